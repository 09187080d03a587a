#pragma once
#include <string>

namespace gradoracle {

enum class DType { Float32, Float64 };

inline const char* name(DType d) { return d == DType::Float32 ? "float32" : "float64"; }
// torch's type promotion between two floating tensors: the wider one.
inline DType promote(DType a, DType b) { return (a == DType::Float64 || b == DType::Float64) ? DType::Float64 : DType::Float32; }
inline int element_size(DType d) { return d == DType::Float32 ? 4 : 8; }

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };

// Calls f with a value of the scalar type of d (float or double): the one dtype dispatch per op.
template <class F>
decltype(auto) dispatch(DType d, F&& f) {
  if (d == DType::Float32) return f(float{});
  return f(double{});
}

}  // namespace gradoracle
