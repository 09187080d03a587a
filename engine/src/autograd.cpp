#include "gradoracle/engine/autograd.hpp"

#include <algorithm>
#include <atomic>

#include "gradoracle/engine/ops.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"
#include "small_stack.hpp"
#include "tensor_access.hpp"

namespace gradoracle {

using detail::SmallStack;

namespace {
const char* kFreedMessage =
    "Trying to backward through the graph a second time (or directly access saved tensors after they have already "
    "been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). "
    "Specify retain_graph=True if you need to backward through the graph a second time or if you need to access "
    "saved tensors after calling backward.";

std::shared_ptr<Node> accumulator_of(const Tensor& leaf) {
  TensorImpl& impl = impl_of(leaf);
  if (!impl.grad_accumulator) impl.grad_accumulator = std::make_shared<AccumulateGrad>(&impl);
  return impl.grad_accumulator;
}

// The node a gradient for `t` flows into: its grad_fn, or its accumulator if it is a leaf.
std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  return accumulator_of(t);
}

// Whether `from` broadcasts to `to` (every dim of `from`, right-aligned, is 1 or equal).
bool broadcasts_to(std::span<const int64_t> from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i] != 1 && from[i] != to[i + off]) return false;
  }
  return true;
}

// Brings a gradient to its input's shape and dtype, or raises (an engine bug, not a user error).
// The common case, a gradient already of the input's shape and dtype, does no work.
Tensor validate(const Node& node, size_t i, Tensor grad, const Edge& edge) {
  if (!edge.shape.equals(grad.shape())) {
    if (!broadcasts_to(edge.shape.dims(), grad.shape())) {
      fail(ErrorKind::Autograd, std::string("Function ") + node.name() + " returned an invalid gradient at index " +
                                    std::to_string(i) + " - got " + to_string(grad.shape()) +
                                    " but expected shape compatible with " + to_string(edge.shape.to_shape()));
    }
    // Under create_graph a gradient with a graph is summed by recorded ops, as PyTorch's
    // validate_outputs does (ATen's sum_to: SumBackward1, then ViewBackward0 if dims went).
    if (grad.requires_grad() && grad_mode_enabled()) {
      grad = detail::sum_to_recorded(grad, edge.shape.to_shape());
      return grad.dtype() == edge.dtype ? grad : grad.to(edge.dtype);
    }
    // sum_to's value without its bookkeeping (no graph is recorded during a backward).
    Tensor summed = Tensor::empty(edge.shape.to_shape(), grad.dtype());
    dispatch(grad.dtype(), [&](auto s) {
      using T = decltype(s);
      kernels::sum_into<T>(grad, summed.shape(), summed.data<T>());
    });
    grad = std::move(summed);
  }
  if (grad.dtype() != edge.dtype) grad = grad.to(edge.dtype);
  return grad;
}
// A gradient validate() should have summed to its input's shape and did not (an engine bug).
[[noreturn]] void fail_unreduced(const Node& node, size_t i, const Tensor& grad, const Edge& edge) {
  fail(ErrorKind::Autograd, std::string("engine bug: the gradient of ") + node.name() + " at index " + std::to_string(i) +
                                " is " + to_string(grad.shape()) + " after validation, its input " +
                                to_string(edge.shape.to_shape()));
}
}  // namespace

InlineShape::InlineShape(const Shape& shape) : rank_(shape.size()) {
  if (rank_ <= kInline) {
    std::copy(shape.begin(), shape.end(), inline_);
  } else {
    heap_ = shape;
  }
}

bool InlineShape::equals(const Shape& shape) const {
  return shape.size() == rank_ && std::equal(shape.begin(), shape.end(), data());
}

void EdgeList::push_back(Edge edge) {
  if (size_ < kInline) {
    inline_[size_++] = std::move(edge);
    return;
  }
  if (size_ == kInline) {  // spill: from here on all the edges live in heap_
    heap_.reserve(2 * kInline);
    for (Edge& e : inline_) heap_.push_back(std::move(e));
  }
  heap_.push_back(std::move(edge));
  ++size_;
}

Node::Node(const char* name, std::span<const Tensor> inputs, bool saves_tensors)
    : name_(name), saves_tensors_(saves_tensors) {
  for (const Tensor& t : inputs) {
    if (!t.defined()) {
      next_.push_back(Edge{});
      continue;
    }
    next_.push_back(Edge{gradient_edge(t), InlineShape(t.shape()), t.dtype()});
  }
}

Node::~Node() {
  // Destroying a chain of N nodes through shared_ptr would recurse N deep: instead take the edges
  // of every node we are the last owner of, and let each die with no edges left. A node someone
  // else still owns (a leaf's accumulator, a shared subgraph) is only let go.
  SmallStack<std::shared_ptr<Node>, 8> stack;
  const auto take_edges = [&stack](EdgeList& edges) {
    for (Edge& e : edges) {
      if (e.fn.use_count() == 1) {
        stack.push(std::move(e.fn));
      } else {
        e.fn.reset();
      }
    }
  };
  take_edges(next_);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = stack.pop();
    take_edges(n->next_);
  }
}

std::vector<Tensor> Node::apply(const Tensor& grad_output) {
  if (released_) fail(ErrorKind::Autograd, kFreedMessage);
  std::vector<Tensor> grads = call(grad_output, NeedsGrad(next_));
  if (grads.size() != next_.size()) {
    fail(ErrorKind::Autograd, std::string("Function ") + name_ + " returned an incorrect number of gradients (expected " +
                                  std::to_string(next_.size()) + ", got " + std::to_string(grads.size()) + ")");
  }
  return grads;
}

namespace detail {
[[noreturn]] void fail_freed() { fail(ErrorKind::Autograd, kFreedMessage); }

void set_grad_fn(Tensor& out, std::shared_ptr<Node> node) {
  TensorImpl& impl = impl_of(out);
  impl.grad_fn = std::move(node);
  impl.requires_grad = true;
}
}  // namespace detail

namespace {
// A plain tensor that only its handle refers to (run_backward's local upstream): no other
// handle, no view or detach() sharing its storage, no history, no .grad of its own.
bool owned_outright(const Tensor& t) {
  const auto& impl = impl_ptr_of(t);
  return impl.use_count() == 1 && impl->storage.use_count() == 1 && !impl->grad_fn && !impl->grad &&
         !impl->grad_accumulator;
}
}  // namespace

AccumulateGrad::AccumulateGrad(TensorImpl* leaf) : Node("AccumulateGrad", {}, false), leaf_(leaf) {}

bool AccumulateGrad::accumulates_into(const Tensor& t) const { return leaf_ && leaf_ == impl_ptr_of(t).get(); }

TensorImpl::~TensorImpl() {
  if (grad_accumulator) grad_accumulator->leaf_ = nullptr;
}

namespace {
// A copy of g that differentiates as g (PyTorch's clone of a new .grad under create_graph).
Tensor copy_with_graph(const Tensor& g) {
  Tensor out = g.clone();
  record(out, "CopyBackwards", {g}, [](const Tensor& up, NeedsGrad) { return std::vector<Tensor>{up}; },
         Saves::Nothing);
  return out;
}
}  // namespace

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  if (!leaf_) return {};  // the leaf is gone: nobody can read this gradient
  if (grad_mode_enabled()) {
    // create_graph (as PyTorch's accumulateGrad under grad mode): out of place, so .grad
    // carries the gradient's graph: a copy of the first gradient, then .grad + gradient.
    leaf_->grad = impl_ptr_of(leaf_->grad ? add(tensor_of(leaf_->grad), grad_output) : copy_with_graph(grad_output));
    return {};
  }
  if (leaf_->grad) {
    Tensor existing = tensor_of(leaf_->grad);
    dispatch(existing.dtype(), [&](auto s) {
      using T = decltype(s);
      T* p = existing.data<T>();
      const T* g = grad_output.data<T>();
      for (int64_t i = 0; i < existing.numel(); ++i) p[i] += g[i];
    });
  } else if (owned_outright(grad_output)) {
    // Nobody else can see this gradient: keep it as .grad instead of a copy (as PyTorch's
    // AccumulateGrad steals it), with the metadata a clone would have.
    TensorImpl& g = impl_of(grad_output);
    g.requires_grad = false;
    g.is_view = false;
    g.torch_strides.clear();
    leaf_->grad = impl_ptr_of(grad_output);
  } else {
    leaf_->grad = impl_ptr_of(grad_output.clone());
  }
  return {};
}

bool any_requires_grad(std::span<const Tensor> inputs) {
  if (!grad_mode_enabled()) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

namespace detail {
namespace {
// The running node, as the owning pointer the graph holds for it (a root's in the pass, or its
// parent's edge): both outlive the formula's run.
thread_local const std::shared_ptr<Node>* g_current_node = nullptr;
}  // namespace
Node* current_node() { return g_current_node ? g_current_node->get() : nullptr; }
std::shared_ptr<Node> current_node_owner() { return g_current_node ? *g_current_node : nullptr; }

bool needs_graph(std::initializer_list<const Tensor*> tensors) {
  if (!creating_graph()) return false;
  for (const Tensor* t : tensors) {
    if (t->defined() && t->requires_grad()) return true;
  }
  return false;
}
}  // namespace detail

namespace {
const char* kOnceDifferentiableMessage =
    "trying to differentiate twice a function that was marked with @once_differentiable";

// Where a gradient of a once-differentiable formula leads under create_graph: differentiating
// it raises (PyTorch's DelayedError).
class DelayedError final : public Node {
 public:
  DelayedError() : Node("torch::autograd::Error", {}, false) {}
  std::vector<Tensor> apply(const Tensor&) override { fail(ErrorKind::Autograd, kOnceDifferentiableMessage); }

 protected:
  std::vector<Tensor> call(const Tensor&, NeedsGrad) override { return {}; }
  void free_saved() override {}
};

// A once-differentiable formula under create_graph, as PyTorch's @once_differentiable: it runs
// with grad mode off; when its upstream requires grad, each gradient becomes an alias whose
// grad_fn is a DelayedError (no upstream requiring grad: plain gradients, no graph).
std::vector<Tensor> apply_once_differentiable(Node& node, const Tensor& upstream) {
  std::vector<Tensor> grads;
  {
    NoGradGuard no_grad;
    grads = node.apply(upstream);
  }
  if (!upstream.requires_grad()) return grads;
  for (Tensor& g : grads) {
    if (!g.defined()) continue;
    Tensor alias = g.detach();
    detail::set_grad_fn(alias, std::make_shared<DelayedError>());
    g = alias;
  }
  return grads;
}
}  // namespace

// One backward: backward() from roots into the leaves' .grad, or autograd::grad() into a list
// of captured gradients. Nodes keep the pass's state (pass_, pending_, needed_, buffer_).
class BackwardPass {
 public:
  BackwardPass(bool retain_graph, bool create_graph) : retain_graph_(retain_graph), create_graph_(create_graph) {}

  // Seeds `root`'s node with `grad` (several roots may share a node: their seeds add).
  void add_root(const Tensor& root, Tensor grad) {
    std::shared_ptr<Node> node = gradient_edge(root);
    // seed_of's check, again where a null node would be followed: a root without a graph is an error
    if (!node) fail(ErrorKind::Autograd, "a root of backward does not require grad and does not have a grad_fn");
    roots_.push({std::move(node), std::move(grad)});
  }

  // autograd::grad: the gradient arriving at `input`'s node is captured into results()[k]
  // instead of flowing on (a leaf's AccumulateGrad never runs).
  void add_capture(const Tensor& input) { captures_.push_back(gradient_edge(input)); }
  std::vector<Tensor>& results() { return results_; }

  void run();

 private:
  void discover(uint64_t pass);
  void mark_needed();

  bool retain_graph_, create_graph_;
  SmallStack<std::pair<std::shared_ptr<Node>, Tensor>, 2> roots_;  // inline: no allocation for one root
  std::vector<std::shared_ptr<Node>> captures_;
  std::vector<Tensor> results_;
  SmallStack<Node*> reached_;  // every node of this pass, in discovery order
};

// Dependency counts over the graph reachable from the roots (explicit stack, no recursion):
// pending_ = the number of edges into the node from reachable nodes.
void BackwardPass::discover(uint64_t pass) {
  const auto reach = [&](Node* n) {
    if (n->pass_ == pass) return false;
    n->pass_ = pass;
    n->pending_ = 0;
    n->needed_ = true;
    n->buffer_ = Tensor();
    reached_.push(n);
    return true;
  };
  for (size_t r = 0; r < roots_.size(); ++r) reach(roots_[r].first.get());
  for (size_t s = 0; s < reached_.size(); ++s) {
    for (const Edge& e : reached_[s]->next_edges()) {
      Node* n = e.fn.get();
      if (!n) continue;
      reach(n);
      ++n->pending_;
    }
  }
}

// autograd::grad runs only the nodes with a path to a captured node, and no AccumulateGrad:
// needed_ = (some edge leads to a needed or captured node). Computed children first, in a
// topological order (Kahn's over copies of the counts, kept in the nodes: no map), so one sweep
// suffices.
void BackwardPass::mark_needed() {
  SmallStack<Node*> order, ready;
  for (size_t i = 0; i < reached_.size(); ++i) {
    Node* n = reached_[i];
    n->unsorted_ = n->pending_;
    if (n->unsorted_ == 0) ready.push(n);
  }
  while (!ready.empty()) {
    Node* n = ready.pop();
    order.push(n);
    for (const Edge& e : n->next_edges()) {
      if (e.fn && --e.fn->unsorted_ == 0) ready.push(e.fn.get());
    }
  }
  for (const auto& c : captures_) c->captured_ = true;
  for (size_t i = order.size(); i-- > 0;) {
    Node* n = order[i];
    bool needed = false;
    for (const Edge& e : n->next_edges()) {
      if (e.fn && (e.fn->needed_ || e.fn->captured_)) needed = true;
    }
    n->needed_ = needed && dynamic_cast<AccumulateGrad*>(n) == nullptr;
  }
  for (const auto& c : captures_) c->captured_ = false;
}

void BackwardPass::run() {
  // A backward without create_graph records nothing; with it, its formulas record.
  GradModeGuard grad_mode(create_graph_);
  // This pass's id: a node whose pass_ differs has not been reached yet (its pending_ and
  // buffer_ are stale). Unique over all threads: each thread takes ids from blocks of 2^20 it
  // claims from one global counter (one atomic operation per block, not per pass).
  constexpr uint64_t kBlock = uint64_t{1} << 20;
  static std::atomic<uint64_t> blocks{0};
  thread_local uint64_t next_pass = 0, block_end = 0;
  if (next_pass == block_end) {
    next_pass = blocks.fetch_add(1, std::memory_order_relaxed) * kBlock + 1;  // ids from 1: 0 is "never"
    block_end = next_pass + kBlock - 1;
  }
  const uint64_t pass = next_pass++;
  discover(pass);
  if (!captures_.empty()) mark_needed();
  // Buffers left by a throwing backward are dropped, not kept alive by the graph.
  struct Clear {
    SmallStack<Node*>& nodes;
    ~Clear() {
      for (size_t i = 0; i < nodes.size(); ++i) nodes[i]->buffer_ = Tensor();
      detail::g_current_node = nullptr;
    }
  } clear{reached_};

  // Kahn's order: a node runs once every gradient flowing into it has been summed.
  // Each ready node as the owning pointer the graph holds for it (detail::current_node_owner).
  SmallStack<const std::shared_ptr<Node>*> ready;
  for (size_t r = 0; r < roots_.size(); ++r) {
    auto& [node, grad] = roots_[r];
    node->buffer_ = node->buffer_.defined() ? add(node->buffer_, grad) : std::move(grad);
  }
  for (size_t r = 0; r < roots_.size(); ++r) {
    const std::shared_ptr<Node>& node = roots_[r].first;
    if (node->pending_ == 0) {
      node->pending_ = -1;  // pushed once, however many roots share it
      ready.push(&node);
    }
  }
  if (!captures_.empty()) results_.assign(captures_.size(), Tensor());
  std::vector<Tensor> grads;
  while (!ready.empty()) {
    const std::shared_ptr<Node>* owner = ready.pop();
    Node* n = owner->get();
    for (size_t k = 0; k < captures_.size(); ++k) {
      if (captures_[k].get() == n) results_[k] = n->buffer_;
    }
    if (!n->needed_) continue;  // autograd::grad: nothing past it is asked for
    const auto& edges = n->next_edges();
    if (n->buffer_.defined()) {
      Tensor upstream = std::move(n->buffer_);
      n->buffer_ = Tensor();
      detail::g_current_node = owner;
      if (n->once_differentiable() && create_graph_) {
        grads = apply_once_differentiable(*n, upstream);
      } else {
        grads = n->apply(upstream);
      }
      detail::g_current_node = nullptr;
    } else {  // no path gave this node a gradient: it passes none on
      grads.assign(edges.size(), Tensor());
    }
    if (!retain_graph_) n->release();
    for (size_t i = 0; i < edges.size(); ++i) {
      const Edge& e = edges[i];
      Node* next = e.fn.get();
      if (!next) continue;
      if (grads[i].defined()) {
        Tensor gi = validate(*n, i, std::move(grads[i]), e);
        // validate's postcondition, checked apart from it: a wrong shape past this point is
        // written out of bounds by the kernels downstream, where it must be an error.
        if (!e.shape.equals(gi.shape())) fail_unreduced(*n, i, gi, e);
        next->buffer_ = next->buffer_.defined() ? add(next->buffer_, gi) : std::move(gi);
      }
      if (--next->pending_ == 0) ready.push(&e.fn);
    }
  }
}

namespace {
// The upstream for `root`: `grad`, or ones for a one-element root; PyTorch's errors otherwise.
// `i` is the root's position (PyTorch's messages name it).
Tensor seed_of(const Tensor& root, const Tensor& grad, size_t i) {
  if (!root.requires_grad()) {
    fail(ErrorKind::Autograd,
         "element " + std::to_string(i) + " of tensors does not require grad and does not have a grad_fn");
  }
  if (!grad.defined()) {
    if (root.numel() != 1) fail(ErrorKind::Autograd, "grad can be implicitly created only for scalar outputs");
    return Tensor::ones(root.shape(), root.dtype());
  }
  if (grad.shape() != root.shape()) {
    fail(ErrorKind::Shape, "Mismatch in shape: grad_output[" + std::to_string(i) + "] has a shape of torch.Size(" +
                               to_string(grad.shape()) + ") and output[" + std::to_string(i) +
                               "] has a shape of torch.Size(" + to_string(root.shape()) + ").");
  }
  if (grad.dtype() != root.dtype()) return grad.to(root.dtype());
  return grad;
}
}  // namespace

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph, bool create_graph) {
  Tensor seed = seed_of(root, grad, 0);
  BackwardPass pass(retain_graph, create_graph);
  pass.add_root(root, std::move(seed));
  pass.run();
}

namespace autograd {
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, const GradOptions& options) {
  if (inputs.empty()) fail(ErrorKind::Autograd, "grad requires non-empty inputs.");
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size()) {
    fail(ErrorKind::Autograd, "got " + std::to_string(outputs.size()) + " tensors and " +
                                  std::to_string(grad_outputs.size()) + " gradients");
  }
  for (const Tensor& input : inputs) {
    if (!input.defined() || !input.requires_grad()) {
      fail(ErrorKind::Autograd, "One of the differentiated Tensors does not require grad");
    }
  }
  BackwardPass pass(options.retain_graph.value_or(options.create_graph), options.create_graph);
  for (size_t i = 0; i < outputs.size(); ++i) {
    pass.add_root(outputs[i], seed_of(outputs[i], grad_outputs.empty() ? Tensor() : grad_outputs[i], i));
  }
  for (const Tensor& input : inputs) pass.add_capture(input);
  pass.run();
  std::vector<Tensor> results = std::move(pass.results());
  for (Tensor& r : results) {
    if (!r.defined()) {
      if (!options.allow_unused) {
        fail(ErrorKind::Autograd,
             "One of the differentiated Tensors appears to not have been used in the graph. Set allow_unused=True "
             "if this is the desired behavior.");
      }
    }
    // Without create_graph the formulas ran with grad mode off, so a result carries no graph
    // unless it is a grad_output passed through unchanged (an AddBackward0 between it and the
    // input, or the output itself): PyTorch hands back that very tensor, graph and all.
  }
  return results;
}
}  // namespace autograd

}  // namespace gradoracle
