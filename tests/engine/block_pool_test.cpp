// BlockPool (engine/include/gradoracle/engine/block_pool.hpp): a block given back is the next
// one taken, on the thread that gave it; a tensor's blocks and a node's come from it, so a graph
// freed and built again reuses them. Off under AddressSanitizer, where every block is operator new's.
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "gradoracle/engine/block_pool.hpp"
#include "test_util.hpp"

namespace gradoracle {
namespace {

using Pool = detail::BlockPool<48>;

TEST(BlockPool, GivesBackLastInFirstOut) {
  if (!GRADORACLE_BLOCK_POOL) GTEST_SKIP() << "the pool is off under AddressSanitizer";
  void* a = Pool::take();
  void* b = Pool::take();
  Pool::give(a);
  Pool::give(b);
  EXPECT_EQ(Pool::take(), b);
  EXPECT_EQ(Pool::take(), a);
  Pool::give(a);
  Pool::give(b);
}

TEST(BlockPool, KeepsAtMostItsShareAndEndsWithItsThread) {
  // More blocks than a thread keeps, given back on a thread that then ends: the excess goes
  // to operator delete at once, the rest when the thread ends. (A pool not drained at thread
  // end leaks: valgrind.cli, whose gradcheck runs a worker thread, fails then, as does this
  // test under valgrind.)
  std::thread([] {
    std::vector<void*> blocks;
    for (size_t i = 0; i < Pool::kKeep + 10; ++i) blocks.push_back(Pool::take());
    for (void* p : blocks) Pool::give(p);
    void* last = Pool::take();
    if (GRADORACLE_BLOCK_POOL) {
      EXPECT_EQ(last, blocks[Pool::kKeep - 1]);  // the last one kept
    }
    Pool::give(last);
  }).join();
}

TEST(BlockPool, ATensorFreedAndMadeAgainReusesItsBlocks) {
  if (!GRADORACLE_BLOCK_POOL) GTEST_SKIP() << "the pool is off under AddressSanitizer";
  const void* first = nullptr;
  {
    const Tensor t = Tensor::zeros({3}, DType::Float64);
    first = t.data<double>();
  }
  const Tensor again = Tensor::zeros({3}, DType::Float64);
  EXPECT_EQ(again.data<double>(), first);  // its Storage block, buffer inline, came back
}

// Whether the block on top of one of the size classes' pools (64 .. 64·K bytes) holds `p`:
// a freed object from a pool is found there, one freed to operator delete is not.
template <size_t... I>
bool on_top_of_a_pool(const void* p, std::index_sequence<I...>) {
  const auto holds = [p]<size_t S>(std::integral_constant<size_t, S>) {
    using Sized = detail::BlockPool<S>;
    char* top = static_cast<char*>(Sized::take());
    Sized::give(top);
    return top <= static_cast<const char*>(p) && static_cast<const char*>(p) < top + S;
  };
  return (holds(std::integral_constant<size_t, detail::kSizeClass * (I + 1)>()) || ...);
}

TEST(BlockPool, ARecordedNodeComesFromAPool) {
  if (!GRADORACLE_BLOCK_POOL) GTEST_SKIP() << "the pool is off under AddressSanitizer";
  const Tensor x = Tensor::ones({2}, DType::Float64).requires_grad_(true);
  const Node* node = nullptr;
  {
    const Tensor y = mul(x, x);
    node = y.grad_fn().get();
  }
  EXPECT_TRUE(on_top_of_a_pool(node, std::make_index_sequence<32>()));  // MulBackward0's block
}

}  // namespace
}  // namespace gradoracle
