// oneDNN 2-D convolution for XLA:CPU through the XLA FFI (float32): the forward pass and the gradients
// with respect to the input and to the kernel. Activations are NHWC, kernels HWIO, as in
// stylejax.networks.conv.
//
// Every buffer may carry leading vmap dimensions (ffi_call's vmap_method="expand_dims": the same rank
// for all operands, size 1 where an operand is not batched). For the forward pass and the input
// gradient an unbatched kernel folds them into the image axis (one convolution); otherwise, and for
// every batched kernel gradient, one convolution runs per batch entry.
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

dnnl::engine& Engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// One convolution's shapes in oneDNN's logical NCHW / OIHW order.
struct Geometry {
  memory::dims src, wei, dst, strides, pad_l, pad_r;
};

struct Attrs {
  int64_t sh, sw, pt, pb, pl, pr;
};

Geometry MakeGeometry(const int64_t* x, const int64_t* w, const int64_t* y, int64_t images, const Attrs& a) {
  return Geometry{{images, x[3], x[1], x[2]}, {w[3], w[2], w[0], w[1]}, {images, y[3], y[1], y[2]},
                  {a.sh, a.sw}, {a.pt, a.pl}, {a.pb, a.pr}};
}

std::string Key(char kind, const Geometry& g) {
  std::string k(1, kind);
  for (const auto* d : {&g.src, &g.wei, &g.dst, &g.strides, &g.pad_l, &g.pad_r})
    for (auto v : *d) k += "," + std::to_string(v);
  return k;
}

struct Cached {
  dnnl::primitive prim;
  memory::desc src_md, wei_md, dst_md;  // the layouts the primitive chose for its operands
  memory::desc scratch_md;              // its scratchpad, allocated per call
};

// XLA:CPU runs independent operations concurrently, and oneDNN's default scratchpad is shared by all
// primitives (not thread-safe): every primitive here gets its scratchpad from the caller instead.
dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// The convolution `kind` ('f' forward, 'b' input gradient, 'w' kernel gradient) of geometry `g`, made
// once per geometry:
// making a primitive descriptor costs about as much as a small convolution.
Cached Primitive(char kind, const Geometry& g) {
  static std::mutex mu;
  static std::unordered_map<std::string, Cached> cache;
  std::lock_guard<std::mutex> lock(mu);
  std::string key = Key(kind, g);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  auto& eng = Engine();
  // The kernel gradient lets oneDNN choose the activations' layout (they are reordered from NHWC, as
  // torch's are): on NHWC oneDNN takes a slower kernel, 1.8-4x the time of the blocked one with the
  // reorders (CycleGAN's 3x3 s2 64->128 layer, two images: 217 against 80 ms). Where it runs now:
  // benchmarks/bench_conv_backends.py. The forward pass and input gradient keep NHWC: given the choice,
  // the forward pass chose NHWC and the input gradient a blocked layout that ran no faster in CycleGAN's
  // training step.
  const tag activations = kind == 'w' ? tag::any : tag::nhwc;
  memory::desc src_md(g.src, dt::f32, activations), dst_md(g.dst, dt::f32, activations);
  memory::desc wei_any(g.wei, dt::f32, tag::any);
  const dnnl::primitive_attr attr = UserScratchpad();
  auto forward = [&](dnnl::prop_kind prop) {
    return dnnl::convolution_forward::primitive_desc(eng, prop, dnnl::algorithm::convolution_direct, src_md,
                                                     wei_any, dst_md, g.strides, g.pad_l, g.pad_r, attr);
  };
  Cached made;
  if (kind == 'f') {
    auto pd = forward(dnnl::prop_kind::forward_inference);
    made = Cached{dnnl::convolution_forward(pd), pd.src_desc(), pd.weights_desc(), pd.dst_desc(),
                  pd.scratchpad_desc()};
  } else if (kind == 'b') {
    auto pd = dnnl::convolution_backward_data::primitive_desc(eng, dnnl::algorithm::convolution_direct, src_md,
                                                              wei_any, dst_md, g.strides, g.pad_l, g.pad_r,
                                                              forward(dnnl::prop_kind::forward_training), attr);
    made = Cached{dnnl::convolution_backward_data(pd), pd.diff_src_desc(), pd.weights_desc(), pd.diff_dst_desc(),
                  pd.scratchpad_desc()};
  } else {
    auto pd = dnnl::convolution_backward_weights::primitive_desc(
        eng, dnnl::algorithm::convolution_direct, src_md, wei_any, dst_md, g.strides, g.pad_l, g.pad_r,
        forward(dnnl::prop_kind::forward_training), attr);
    made = Cached{dnnl::convolution_backward_weights(pd), pd.src_desc(), pd.diff_weights_desc(),
                  pd.diff_dst_desc(), pd.scratchpad_desc()};
  }
  return cache.emplace(key, made).first->second;
}

// Copies `from` into `to` (the same logical tensor, different layouts).
void Reorder(dnnl::stream& s, memory& from, memory& to) {
  auto& eng = Engine();
  dnnl::reorder::primitive_desc pd(eng, from.get_desc(), eng, to.get_desc(), UserScratchpad());
  memory scratch(pd.scratchpad_desc(), eng);
  dnnl::reorder(pd).execute(s, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}, {DNNL_ARG_SCRATCHPAD, scratch}});
}

// An operand in the primitive's layout `md`: the caller's buffer `user` itself, or a new buffer (into
// which an input is copied now; an output is copied back by Unstage).
memory Stage(dnnl::stream& s, const memory::desc& md, memory& user, bool is_input) {
  if (md == user.get_desc()) return user;
  memory staged(md, Engine());
  if (is_input) Reorder(s, user, staged);
  return staged;
}

void Unstage(dnnl::stream& s, memory& staged, memory& user) {
  if (staged.get_data_handle() != user.get_data_handle()) Reorder(s, staged, user);
}

// One argument of a primitive: its oneDNN name, the caller's layout, the primitive's, and the data.
struct Operand {
  int arg;
  memory::desc user_md, md;
  float* data;
};

// The two inputs and the result of `kind`: 'f' src `a` (NHWC), weights `b` (HWIO) -> dst `out` (NHWC);
// 'b' diff_dst `a`, weights `b` -> diff_src `out`; 'w' src `a`, diff_dst `b` -> diff_weights `out` (HWIO).
std::array<Operand, 3> Operands(char kind, const Cached& c, const Geometry& g, float* a, float* b, float* out) {
  const memory::desc src(g.src, dt::f32, tag::nhwc), dst(g.dst, dt::f32, tag::nhwc), wei(g.wei, dt::f32, tag::hwio);
  if (kind == 'f')
    return {{{DNNL_ARG_SRC, src, c.src_md, a}, {DNNL_ARG_WEIGHTS, wei, c.wei_md, b}, {DNNL_ARG_DST, dst, c.dst_md, out}}};
  if (kind == 'b')
    return {{{DNNL_ARG_DIFF_DST, dst, c.dst_md, a}, {DNNL_ARG_WEIGHTS, wei, c.wei_md, b},
             {DNNL_ARG_DIFF_SRC, src, c.src_md, out}}};
  return {{{DNNL_ARG_SRC, src, c.src_md, a}, {DNNL_ARG_DIFF_DST, dst, c.dst_md, b},
           {DNNL_ARG_DIFF_WEIGHTS, wei, c.wei_md, out}}};
}

// Runs `kind` (operands as in Operands). Each operand is reordered between the caller's layout and the
// primitive's where they differ; the weights on every call, since they change between calls.
void Run(char kind, const Geometry& g, float* a, float* b, float* out) {
  auto& eng = Engine();
  dnnl::stream s(eng);
  Cached c = Primitive(kind, g);
  const std::array<Operand, 3> operands = Operands(kind, c, g, a, b, out);
  std::unordered_map<int, memory> args{{DNNL_ARG_SCRATCHPAD, memory(c.scratch_md, eng)}};
  for (int i = 0; i < 2; ++i) {
    memory user(operands[i].user_md, eng, operands[i].data);
    args[operands[i].arg] = Stage(s, operands[i].md, user, true);
  }
  memory result_user(operands[2].user_md, eng, operands[2].data);
  memory result = Stage(s, operands[2].md, result_user, false);
  args[operands[2].arg] = result;
  c.prim.execute(s, args);
  Unstage(s, result, result_user);
  s.wait();
}

int64_t Product(const int64_t* begin, const int64_t* end) {
  int64_t p = 1;
  for (const int64_t* d = begin; d != end; ++d) p *= *d;
  return p;
}

// Runs `kind` (operands `a`, `b` and result `out` as in Run) over the leading (vmap) dimensions.
ffi::Error RunOverEntries(char kind, ffi::Span<const int64_t> a_dims, float* a, ffi::Span<const int64_t> b_dims,
                          float* b, ffi::Span<const int64_t> out_dims, float* out, const Attrs& attrs) {
  const size_t rank = out_dims.size();
  if (rank < 4 || a_dims.size() != rank || b_dims.size() != rank)
    return ffi::Error::InvalidArgument("onednn conv: operands must share one rank >= 4");
  const size_t lead = rank - 4;
  const int64_t *at = a_dims.begin() + lead, *bt = b_dims.begin() + lead, *ot = out_dims.begin() + lead;
  // One entry's image, kernel and output shapes.
  const int64_t* xt = kind == 'b' ? ot : at;
  const int64_t* wt = kind == 'w' ? ot : bt;
  const int64_t* yt = kind == 'f' ? ot : (kind == 'b' ? at : bt);
  const int64_t out_batch = Product(out_dims.begin(), ot);
  if (kind != 'w' && Product(b_dims.begin(), bt) == 1 && Product(a_dims.begin(), at) == out_batch) {
    Run(kind, MakeGeometry(xt, wt, yt, xt[0] * out_batch, attrs), a, b, out);  // one kernel: fold
    return ffi::Error::Success();
  }
  const int64_t a_size = Product(at, at + 4), b_size = Product(bt, bt + 4), out_size = Product(ot, ot + 4);
  const Geometry g = MakeGeometry(xt, wt, yt, xt[0], attrs);
  std::vector<int64_t> index(lead, 0);
  for (int64_t entry = 0; entry < out_batch; ++entry) {
    int64_t a_off = 0, b_off = 0;  // operands broadcast where their leading dimension is 1
    for (size_t i = 0; i < lead; ++i) {
      a_off = a_off * a_dims[i] + (a_dims[i] == 1 ? 0 : index[i]);
      b_off = b_off * b_dims[i] + (b_dims[i] == 1 ? 0 : index[i]);
    }
    Run(kind, g, a + a_off * a_size, b + b_off * b_size, out + entry * out_size);
    for (size_t i = lead; i-- > 0;) {  // next multi-index, last dimension fastest
      if (++index[i] < out_dims[i]) break;
      index[i] = 0;
    }
  }
  return ffi::Error::Success();
}

// oneDNN reports failures as exceptions; XLA wants them as errors (an exception must not cross the FFI).
template <typename F>
ffi::Error Guarded(F body) {
  try {
    return body();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("onednn conv: ") + e.what());
  }
}

// One handler per kind, its operands and result as in Run: 'f' (x, w) -> y, 'b' (dy, w) -> dx,
// 'w' (x, dy) -> dw. The result buffer's shape gives the shape the operands do not.
template <char kind>
ffi::Error ConvImpl(ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b, ffi::ResultBuffer<ffi::F32> out, int64_t sh,
                    int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  return Guarded([&] {
    return RunOverEntries(kind, a.dimensions(), a.typed_data(), b.dimensions(), b.typed_data(), out->dimensions(),
                          out->typed_data(), Attrs{sh, sw, pt, pb, pl, pr});
  });
}

}  // namespace

#define STYLEJAX_CONV_BINDING       \
  ffi::Ffi::Bind()                  \
      .Arg<ffi::Buffer<ffi::F32>>() \
      .Arg<ffi::Buffer<ffi::F32>>() \
      .Ret<ffi::Buffer<ffi::F32>>() \
      .Attr<int64_t>("sh")          \
      .Attr<int64_t>("sw")          \
      .Attr<int64_t>("pt")          \
      .Attr<int64_t>("pb")          \
      .Attr<int64_t>("pl")          \
      .Attr<int64_t>("pr")

XLA_FFI_DEFINE_HANDLER_SYMBOL(StylejaxDnnlConvForward, ConvImpl<'f'>, STYLEJAX_CONV_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(StylejaxDnnlConvBackwardData, ConvImpl<'b'>, STYLEJAX_CONV_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(StylejaxDnnlConvBackwardWeights, ConvImpl<'w'>, STYLEJAX_CONV_BINDING);
