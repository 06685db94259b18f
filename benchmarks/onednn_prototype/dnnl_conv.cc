// A oneDNN 2-D convolution (NHWC input, HWIO weights, NHWC output, float32) called from JAX through
// the XLA FFI: forward and the gradient with respect to the input.
#include <cstdint>
#include <mutex>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

#include <string>
#include <unordered_map>

static dnnl::engine& Engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

struct Geometry {
  memory::dims src, wei, dst, strides, pad_l, pad_r;
};

// NHWC / HWIO shapes as oneDNN's logical NCHW / OIHW dims.
static Geometry MakeGeometry(ffi::Span<const int64_t> x, ffi::Span<const int64_t> w, ffi::Span<const int64_t> y,
                             int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  Geometry g;
  g.src = {x[0], x[3], x[1], x[2]};
  g.wei = {w[3], w[2], w[0], w[1]};
  g.dst = {y[0], y[3], y[1], y[2]};
  g.strides = {sh, sw};
  g.pad_l = {pt, pl};
  g.pad_r = {pb, pr};
  return g;
}

static std::string Key(const char* kind, const Geometry& g) {
  std::string k(kind);
  for (const auto* d : {&g.src, &g.wei, &g.dst, &g.strides, &g.pad_l, &g.pad_r})
    for (auto v : *d) k += "," + std::to_string(v);
  return k;
}

struct Cached {
  dnnl::primitive prim;
  memory::desc wei_md;  // the weight layout the primitive chose
};

// The convolution `kind` ('f' forward, 'b' input gradient) of geometry `g`, made once per geometry:
// making a primitive descriptor costs about as much as a small convolution.
static Cached Primitive(char kind, const Geometry& g) {
  static std::mutex mu;
  static std::unordered_map<std::string, Cached> cache;
  std::lock_guard<std::mutex> lock(mu);
  std::string key = Key(kind == 'f' ? "f" : "b", g);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  auto& eng = Engine();
  memory::desc src_md(g.src, dt::f32, tag::nhwc), dst_md(g.dst, dt::f32, tag::nhwc);
  memory::desc wei_any(g.wei, dt::f32, tag::any);
  auto forward = [&](dnnl::prop_kind prop) {
    return dnnl::convolution_forward::primitive_desc(eng, prop, dnnl::algorithm::convolution_direct, src_md,
                                                     wei_any, dst_md, g.strides, g.pad_l, g.pad_r);
  };
  Cached made;
  if (kind == 'f') {
    auto pd = forward(dnnl::prop_kind::forward_inference);
    made = Cached{dnnl::convolution_forward(pd), pd.weights_desc()};
  } else {
    auto pd = dnnl::convolution_backward_data::primitive_desc(eng, dnnl::algorithm::convolution_direct, src_md,
                                                              wei_any, dst_md, g.strides, g.pad_l, g.pad_r,
                                                              forward(dnnl::prop_kind::forward_training));
    made = Cached{dnnl::convolution_backward_data(pd), pd.weights_desc()};
  }
  return cache.emplace(key, made).first->second;
}

// Runs `kind` on NHWC `a` (src, or diff_dst for 'b') and HWIO `w` into NHWC `out`; the weights are
// reordered into the primitive's layout on every call (they may change between calls).
static ffi::Error Run(char kind, const Geometry& g, float* a, float* w, float* out) {
  auto& eng = Engine();
  dnnl::stream s(eng);
  Cached c = Primitive(kind, g);
  memory::desc src_md(g.src, dt::f32, tag::nhwc), dst_md(g.dst, dt::f32, tag::nhwc);
  memory::desc wei_user_md(g.wei, dt::f32, tag::hwio);
  memory wei_user(wei_user_md, eng, w), wei = wei_user;
  if (c.wei_md != wei_user_md) {
    wei = memory(c.wei_md, eng);
    dnnl::reorder(wei_user, wei).execute(s, wei_user, wei);
  }
  if (kind == 'f') {
    memory src(src_md, eng, a), dst(dst_md, eng, out);
    c.prim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
  } else {
    memory diff_dst(dst_md, eng, a), diff_src(src_md, eng, out);
    c.prim.execute(s, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, diff_src}});
  }
  s.wait();
  return ffi::Error::Success();
}

static ffi::Error ConvForwardImpl(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w, ffi::ResultBuffer<ffi::F32> y,
                                  int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  Geometry g = MakeGeometry(x.dimensions(), w.dimensions(), y->dimensions(), sh, sw, pt, pb, pl, pr);
  return Run('f', g, x.typed_data(), w.typed_data(), y->typed_data());
}

// dx from dy and w; x's shape comes from the result buffer.
static ffi::Error ConvBackwardDataImpl(ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> w,
                                       ffi::ResultBuffer<ffi::F32> dx, int64_t sh, int64_t sw, int64_t pt,
                                       int64_t pb, int64_t pl, int64_t pr) {
  Geometry g = MakeGeometry(dx->dimensions(), w.dimensions(), dy.dimensions(), sh, sw, pt, pb, pl, pr);
  return Run('b', g, dy.typed_data(), w.typed_data(), dx->typed_data());
}

#define CONV_BINDING                                                                                   \
  ffi::Ffi::Bind()                                                                                           \
      .Arg<ffi::Buffer<ffi::F32>>()                                                                          \
      .Arg<ffi::Buffer<ffi::F32>>()                                                                          \
      .Ret<ffi::Buffer<ffi::F32>>()                                                                          \
      .Attr<int64_t>("sh")                                                                                   \
      .Attr<int64_t>("sw")                                                                                   \
      .Attr<int64_t>("pt")                                                                                   \
      .Attr<int64_t>("pb")                                                                                   \
      .Attr<int64_t>("pl")                                                                                   \
      .Attr<int64_t>("pr")


XLA_FFI_DEFINE_HANDLER_SYMBOL(DnnlConvForward, ConvForwardImpl, CONV_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(DnnlConvBackwardData, ConvBackwardDataImpl, CONV_BINDING);
