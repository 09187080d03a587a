#pragma once
// SmallStack: a stack (with indexed access) whose first N values live inline, so the small
// graphs of everyday programs walk without allocating; values beyond N go to the heap.
#include <array>
#include <cstddef>
#include <utility>
#include <vector>

namespace gradoracle::detail {

template <class T, size_t N = 16>
class SmallStack {
 public:
  void push(T value) {
    if (size_ < N) {
      inline_[size_] = std::move(value);
    } else {
      overflow_.push_back(std::move(value));
    }
    ++size_;
  }
  // Removes and returns the last value pushed.
  T pop() {
    --size_;
    if (size_ < N) return std::exchange(inline_[size_], T());
    T value = std::move(overflow_.back());
    overflow_.pop_back();
    return value;
  }
  T& operator[](size_t i) { return i < N ? inline_[i] : overflow_[i - N]; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  // Values 0 .. N-1; default-initialised (pointers are not zeroed: a walk's stack is set up
  // in every backward, and only the first size_ values are ever read).
  std::array<T, N> inline_;
  std::vector<T> overflow_;    // values N ..
  size_t size_ = 0;
};

}  // namespace gradoracle::detail
