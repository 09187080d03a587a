#pragma once
// The engine's own access to a tensor's shared state (detail::TensorImpl): its kernels, autograd
// and layout code read and set fields a user cannot (strides, view-ness, storage, .grad's
// handle). Internal to the engine library; not installed.
#include <memory>
#include <utility>

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
// A tensor over existing shared state.
inline Tensor tensor_of(std::shared_ptr<TensorImpl> impl) { return detail::TensorAccess::wrap(std::move(impl)); }
}  // namespace gradoracle
