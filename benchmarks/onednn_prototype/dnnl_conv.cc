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
  memory::desc wei_md;
};
static std::mutex cache_mu;
static std::unordered_map<std::string, Cached> cache;

static ffi::Error ConvForwardImpl(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w, ffi::ResultBuffer<ffi::F32> y,
                                  int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  auto& eng = Engine();
  dnnl::stream s(eng);
  Geometry g = MakeGeometry(x.dimensions(), w.dimensions(), y->dimensions(), sh, sw, pt, pb, pl, pr);
  memory::desc src_md(g.src, dt::f32, tag::nhwc), dst_md(g.dst, dt::f32, tag::nhwc);
  memory::desc wei_any(g.wei, dt::f32, tag::any), wei_user_md(g.wei, dt::f32, tag::hwio);
  Cached c;
  {
    std::lock_guard<std::mutex> lock(cache_mu);
    auto key = Key("f", g);
    auto it = cache.find(key);
    if (it == cache.end()) {
      auto pd = dnnl::convolution_forward::primitive_desc(
          eng, dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md, wei_any, dst_md,
          g.strides, g.pad_l, g.pad_r);
      it = cache.emplace(key, Cached{dnnl::convolution_forward(pd), pd.weights_desc()}).first;
    }
    c = it->second;
  }
  memory src(src_md, eng, x.typed_data()), dst(dst_md, eng, y->typed_data());
  memory wei_user(wei_user_md, eng, w.typed_data());
  memory wei = wei_user;
  if (c.wei_md != wei_user_md) {
    wei = memory(c.wei_md, eng);
    dnnl::reorder(wei_user, wei).execute(s, wei_user, wei);
  }
  c.prim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
  s.wait();
  return ffi::Error::Success();
}

// dx from dy and w; x's shape comes from the result buffer.
static ffi::Error ConvBackwardDataImpl(ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> w,
                                       ffi::ResultBuffer<ffi::F32> dx, int64_t sh, int64_t sw, int64_t pt,
                                       int64_t pb, int64_t pl, int64_t pr) {
  auto& eng = Engine();
  dnnl::stream s(eng);
  Geometry g = MakeGeometry(dx->dimensions(), w.dimensions(), dy.dimensions(), sh, sw, pt, pb, pl, pr);
  memory::desc src_md(g.src, dt::f32, tag::nhwc), dst_md(g.dst, dt::f32, tag::nhwc);
  memory::desc wei_any(g.wei, dt::f32, tag::any), wei_user_md(g.wei, dt::f32, tag::hwio);
  Cached c;
  {
    std::lock_guard<std::mutex> lock(cache_mu);
    auto key = Key("b", g);
    auto it = cache.find(key);
    if (it == cache.end()) {
      auto hint = dnnl::convolution_forward::primitive_desc(
          eng, dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src_md, wei_any, dst_md,
          g.strides, g.pad_l, g.pad_r);
      auto pd = dnnl::convolution_backward_data::primitive_desc(
          eng, dnnl::algorithm::convolution_direct, src_md, wei_any, dst_md, g.strides, g.pad_l, g.pad_r, hint);
      it = cache.emplace(key, Cached{dnnl::convolution_backward_data(pd), pd.weights_desc()}).first;
    }
    c = it->second;
  }
  memory diff_src(src_md, eng, dx->typed_data()), diff_dst(dst_md, eng, dy.typed_data());
  memory wei_user(wei_user_md, eng, w.typed_data());
  memory wei = wei_user;
  if (c.wei_md != wei_user_md) {
    wei = memory(c.wei_md, eng);
    dnnl::reorder(wei_user, wei).execute(s, wei_user, wei);
  }
  c.prim.execute(
      s, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, diff_src}});
  s.wait();
  return ffi::Error::Success();
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
