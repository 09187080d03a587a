#pragma once
// BlockPool: per-thread free lists of fixed-size blocks, for the one-object allocations every
// tensor makes (std::allocate_shared's blocks for TensorImpl and Storage) and every recorded op
// makes (its Node, in size classes of 64 bytes: one pool serves many ops). A gradient check
// evaluates a small program thousands of times, freeing a whole graph's tensors at once; glibc
// keeps 7 freed blocks of a size per thread (tcache) and sends the rest through _int_free and
// malloc_consolidate, ~20 % of a small program's check. A pool keeps up to kKeep blocks of each
// size per thread and hands them back last in, first out.
//
// Contract: a block may be freed on any thread (it joins that thread's list); a thread's list is
// returned to operator delete when the thread ends, and blocks freed after that go straight to
// operator delete. Under AddressSanitizer the pool is off (every block is operator new's), so
// a use after free of a tensor is still reported.
#include <cstddef>
#include <new>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#define GRADORACLE_BLOCK_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define GRADORACLE_BLOCK_POOL 0
#endif
#endif
#ifndef GRADORACLE_BLOCK_POOL
#define GRADORACLE_BLOCK_POOL 1
#endif

namespace gradoracle::detail {

template <size_t Size>
class BlockPool {
 public:
  static constexpr size_t kKeep = 4096;  // blocks kept per thread (a few hundred KiB at most)

  static void* take() {
#if GRADORACLE_BLOCK_POOL
    List& l = list_;
    if (l.head) {
      Free* b = l.head;
      l.head = b->next;
      --l.count;
      return b;
    }
    (void)&drain_;  // registers the thread's drain before its first block can be given back
#endif
    return ::operator new(Size);
  }

  static void give(void* p) noexcept {
#if GRADORACLE_BLOCK_POOL
    List& l = list_;
    if (!l.closed && l.count < kKeep) {
      l.head = ::new (p) Free{l.head};
      ++l.count;
      return;
    }
#endif
    ::operator delete(p);
  }

 private:
  struct Free {
    Free* next;
  };
  static_assert(Size >= sizeof(Free));
  // Trivially destructible, so it stays usable while the thread's other thread_locals (which
  // may hold tensors) are destroyed, after the drain.
  struct List {
    Free* head = nullptr;
    size_t count = 0;
    bool closed = false;
  };
  struct Drain {
    ~Drain() {
      List& l = list_;
      while (l.head) ::operator delete(std::exchange(l.head, l.head->next));
      l.count = 0;
      l.closed = true;
    }
  };
  static inline thread_local List list_;
  static inline thread_local Drain drain_;
};

// A std allocator of single objects from BlockPool (arrays go to operator new), for
// std::allocate_shared: its rebound block type decides the size, rounded up to kSizeClass.
inline constexpr size_t kSizeClass = 64;
inline constexpr size_t size_class(size_t bytes) { return (bytes + kSizeClass - 1) / kSizeClass * kSizeClass; }

template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    if (n == 1) return static_cast<T*>(BlockPool<size_class(sizeof(T))>::take());
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n == 1) BlockPool<size_class(sizeof(T))>::give(p);
    else ::operator delete(p);
  }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const noexcept { return true; }
};

}  // namespace gradoracle::detail
