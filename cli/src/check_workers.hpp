#pragma once
// The gate's tasks in worker processes: `gradoracle check --jobs N`.
//
// RapidCheck keeps its implicit parameters in statics, so properties cannot run in threads; N
// forked workers take the tasks in order from a counter in shared memory, each running whole
// tasks and sending back each result (and its progress) through its own pipe. The parent prints
// the task lines in task order as they complete, so the report is the one --jobs 1 gives, task
// for task (each task's cases depend only on the seed and its id), but for times.
#include <functional>
#include <vector>

#include "check.hpp"

namespace gradoracle::cli {

// What the parent does as the workers report: a task started, its cases so far, its result
// (called in the order results arrive; `index` into the tasks).
struct WorkerEvents {
  std::function<void(size_t index)> started;
  std::function<void(size_t index, int cases)> cases;
  std::function<void(size_t index, properties::PropertyResult&& result)> finished;
  // Called before and after the workers are forked: fork() copies only the calling thread, so
  // this process's other threads must be stopped (the progress line's ticker: Progress::pause).
  std::function<void()> before_fork, after_fork;
};

// Runs tasks[i].run(options_for(i)) for every i in `workers` processes (at most one per task).
// options_for(i) is called in the worker that claims task i, when it claims it (a time budget's
// share is computed then). When a worker ends before reporting the task it runs (a crash: a
// signal, or an exit), the others are killed, and this process ends the same way, after a line
// on stderr naming the task (as a crash in --jobs 1 would end it).
void run_in_workers(const std::vector<GateTask>& tasks, unsigned workers,
                    const std::function<properties::RunOptions(size_t index)>& options_for,
                    const WorkerEvents& events);

// A PropertyResult as bytes and back (exact: doubles and 64-bit integers bit for bit).
std::string encode(const properties::PropertyResult& r);
properties::PropertyResult decode(const std::string& bytes);

}  // namespace gradoracle::cli
