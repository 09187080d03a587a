#pragma once
// Tensor: a handle to shared state, as torch.Tensor is. Copies share the tensor;
// storage is contiguous, row-major, float32 or float64 (int64 or bool for indices and
// conditions, which never require grad), of any rank (0-d included).
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gradoracle/engine/dtype.hpp"
#include "gradoracle/engine/error.hpp"
#include "gradoracle/engine/shape.hpp"

namespace gradoracle {

class Node;
class AccumulateGrad;
class Generator;
class Tensor;

// The engine's internals: a tensor's shared state. Only the engine's own sources reach it
// (through detail::TensorAccess, engine/src/tensor_access.hpp); users see Tensor.
namespace detail {
struct TensorAccess;

// A flat, contiguous buffer of one dtype. Shared by a tensor and its detach()/reshape views.
// Buffers of up to kInlineBytes live inside the Storage object itself (one allocation for
// both, as most tensors of a small program are tiny); up to kAlignedBytes they come from plain
// operator new (16-byte aligned: Eigen maps here are unaligned, and the build targets baseline
// SSE2; glibc's memalign costs ~5x a malloc); larger ones are 64-byte aligned, as before (the
// allocation pattern glibc handles without trimming and regrowing its heap on every free).
class Storage {
 public:
  static constexpr size_t kInlineBytes = 256;
  static constexpr size_t kAlignedBytes = 4096;
  Storage(DType dtype, int64_t numel);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  DType dtype() const { return dtype_; }
  int64_t numel() const { return numel_; }
  void* raw() const { return data_; }

 private:
  DType dtype_;
  int64_t numel_;
  void* data_;
  alignas(16) unsigned char inline_[kInlineBytes];
};

struct TensorImpl {
  TensorImpl() = default;
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
  ~TensorImpl();  // tells its AccumulateGrad, if any, that the leaf is gone

  Shape shape;
  DType dtype = DType::Float32;
  std::shared_ptr<Storage> storage;
  bool requires_grad = false;       // a leaf's flag; for a non-leaf, true iff it has a grad_fn
  std::shared_ptr<TensorImpl> grad;  // a leaf's .grad; null until a backward reaches it
  std::shared_ptr<Node> grad_fn;     // null for leaves
  std::shared_ptr<AccumulateGrad> grad_accumulator;  // a leaf's AccumulateGrad node, made on first use
  bool is_view = false;  // made by a view op in PyTorch (reshape, t, transpose): detach_() refuses it
  // The strides PyTorch would give this tensor, empty when a fresh tensor's. Storage is row-major
  // whatever they are; they model PyTorch's layout, which decides some grad_fn names.
  std::vector<int64_t> torch_strides;
};
}  // namespace detail

class Tensor {
 public:
  Tensor() = default;  // undefined, as an absent optional tensor

  // ---- construction ----
  // (The shape is taken by value: a caller's temporary moves into the tensor.)
  static Tensor empty(Shape shape, DType dtype = DType::Float32);
  static Tensor zeros(Shape shape, DType dtype = DType::Float32);
  static Tensor ones(Shape shape, DType dtype = DType::Float32);
  static Tensor full(Shape shape, double value, DType dtype = DType::Float32);
  static Tensor scalar(double value, DType dtype = DType::Float32);  // 0-d
  // Row-major data; its size must equal numel(shape).
  static Tensor from_data(const Shape& shape, const std::vector<double>& data, DType dtype = DType::Float32,
                          bool requires_grad = false);
  static Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::Float32);
  static Tensor uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype = DType::Float32);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const;  // d may be negative
  int64_t numel() const { return gradoracle::numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  bool shares_storage(const Tensor& other) const;
  // PyTorch's layout of this tensor (t() gives strides (1, n)); the data here is row-major always.
  std::vector<int64_t> stride() const;
  bool is_contiguous() const;  // torch's: size-1 dims ignored

  // ---- data ----
  // T must match dtype(); throws otherwise.
  template <class T>
  T* data() const {
    const TensorImpl& i = impl();
    if (dtype_of<T>::value != i.dtype) [[unlikely]] fail_dtype(dtype_of<T>::value);
    return static_cast<T*>(i.storage->raw());
  }
  double item() const;                 // the one element of a one-element tensor
  std::vector<double> to_vector() const;
  double at(std::initializer_list<int64_t> index) const;  // bounds-checked element read
  Tensor clone() const;                                    // a copy of the value, no history
  Tensor to(DType dtype) const;                            // differentiable cast (ToCopyBackward0)
  void fill_(double value);                                // in place, outside autograd
  std::string to_string() const;

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  // Sets the flag on a leaf; on a non-leaf only true is accepted (a no-op), as in PyTorch.
  Tensor& requires_grad_(bool flag = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const;  // undefined until a backward reaches this leaf
  void set_grad(const Tensor& grad);  // undefined clears it (set_to_none)
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  std::string grad_fn_name() const;  // "" when grad_fn is null
  // y.backward(grad, retain_graph, create_graph), as PyTorch: grad may be omitted only for
  // one-element tensors; retain_graph defaults to create_graph; with create_graph the
  // gradients accumulated into leaves carry a graph (they can be differentiated again).
  void backward(const Tensor& grad = Tensor(), std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;
  Tensor detach() const;  // shares storage; requires_grad false, no grad_fn
  Tensor& detach_();      // in place: drops grad_fn and requires_grad; throws on a view, as PyTorch

  bool is_view() const { return impl().is_view; }  // made by a view op (PyTorch's _is_view())

 private:
  friend struct detail::TensorAccess;
  using TensorImpl = detail::TensorImpl;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  TensorImpl& impl() const {
    if (!impl_) [[unlikely]] fail_undefined();
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  [[noreturn]] static void fail_undefined();  // "use of an undefined tensor"
  [[noreturn]] void fail_dtype(DType expected) const;
  [[noreturn]] static void fail_requires_grad();  // an int64 or bool tensor asked to require grad  // "expected a float64 tensor but got float32"
  std::shared_ptr<TensorImpl> impl_;
};

// Turns off graph recording in its scope (torch.no_grad()).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};
bool grad_mode_enabled();

// Sets grad mode to `enabled` in its scope (torch.set_grad_enabled); a backward with
// create_graph runs its formulas under GradModeGuard(true).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled);
  ~GradModeGuard();
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace gradoracle
