#pragma once
#include <cstdint>
#include <string>

namespace gradoracle {

// Float32 and Float64 are the differentiable dtypes every op computes in. Int64 and Bool hold
// indices and conditions (where's cond, gather's and index_select's index, embedding's indices):
// they never require grad, and the float ops refuse them (dispatch below), so the float paths
// pay one compare at most.
enum class DType { Float32, Float64, Int64, Bool };

inline const char* name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}
inline bool is_floating(DType d) { return d == DType::Float32 || d == DType::Float64; }
// torch's type promotion between two floating tensors: the wider one.
inline DType promote(DType a, DType b) { return (a == DType::Float64 || b == DType::Float64) ? DType::Float64 : DType::Float32; }
inline int element_size(DType d) {
  switch (d) {
    case DType::Float32: return 4;
    case DType::Bool: return 1;
    case DType::Float64:
    case DType::Int64: return 8;
  }
  return 8;
}

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };

// Raises "expected a floating point tensor (float32 or float64) but got int64": a float op
// given an index or condition tensor (PyTorch would promote it; the engine computes in floats
// only).
[[noreturn]] void fail_not_floating(DType d);

// Calls f with a value of the scalar type of d (float or double): the one dtype dispatch per op.
// An int64 or bool d is refused (fail_not_floating).
template <class F>
decltype(auto) dispatch(DType d, F&& f) {
  if (d == DType::Float32) return f(float{});
  if (d != DType::Float64) [[unlikely]] fail_not_floating(d);
  return f(double{});
}

// As dispatch, over every dtype (int64_t and bool too): for code that moves or reads values
// whatever they are (construction, item, to_vector, the fixture reader and writer).
template <class F>
decltype(auto) dispatch_all(DType d, F&& f) {
  switch (d) {
    case DType::Float32: return f(float{});
    case DType::Int64: return f(int64_t{});
    case DType::Bool: return f(bool{});
    case DType::Float64: break;
  }
  return f(double{});
}

}  // namespace gradoracle
