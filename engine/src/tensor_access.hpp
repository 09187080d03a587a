#pragma once
// The engine's own access to a tensor's shared state (detail::TensorImpl): its kernels, autograd
// and layout code read and set fields a user cannot (strides, view-ness, storage, .grad's
// handle). Internal to the engine library; not installed.
#include <memory>
#include <utility>

#include "gradoracle/engine/block_pool.hpp"
#include "gradoracle/engine/tensor.hpp"

namespace gradoracle {
namespace detail {
struct TensorAccess {
  static TensorImpl& impl(const Tensor& t) { return t.impl(); }
  static const std::shared_ptr<TensorImpl>& ptr(const Tensor& t) { return t.impl_ptr(); }
  static Tensor wrap(std::shared_ptr<TensorImpl> impl) { return Tensor(std::move(impl)); }
};
}  // namespace detail

using detail::Storage;
using detail::TensorImpl;

// t's shared state; throws on an undefined tensor.
inline TensorImpl& impl_of(const Tensor& t) { return detail::TensorAccess::impl(t); }
// The handle to it (null for an undefined tensor).
inline const std::shared_ptr<TensorImpl>& impl_ptr_of(const Tensor& t) { return detail::TensorAccess::ptr(t); }
// Fresh shared state, and a fresh buffer, from the thread's block pool (block_pool.hpp).
inline std::shared_ptr<TensorImpl> new_impl() { return std::allocate_shared<TensorImpl>(detail::PoolAllocator<TensorImpl>()); }
inline std::shared_ptr<Storage> new_storage(DType dtype, int64_t numel) {
  return std::allocate_shared<Storage>(detail::PoolAllocator<Storage>(), dtype, numel);
}
// A tensor over existing shared state.
inline Tensor tensor_of(std::shared_ptr<TensorImpl> impl) { return detail::TensorAccess::wrap(std::move(impl)); }
}  // namespace gradoracle
