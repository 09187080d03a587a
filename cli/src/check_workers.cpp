// The gate's tasks in forked worker processes (check_workers.hpp).
#include "check_workers.hpp"

#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <type_traits>

namespace gradoracle::cli {

namespace {

using properties::PropertyResult;

// ---- PropertyResult as bytes: fixed-size fields as they are in memory, strings and lists
// with their lengths first. Parent and worker are the same binary, so the layout agrees.
struct Writer {
  std::string out;
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put(const std::string& s) {
    put(static_cast<uint64_t>(s.size()));
    out += s;
  }
  void put(const std::vector<std::string>& list) {
    put(static_cast<uint64_t>(list.size()));
    for (const std::string& s : list) put(s);
  }
};

struct Reader {
  const std::string& in;
  size_t at = 0;
  void need(size_t n) {
    if (in.size() - at < n) throw std::runtime_error("a worker's result is cut short");
  }
  template <class T>
  void get(T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof v);
    std::memcpy(&v, in.data() + at, sizeof v);
    at += sizeof v;
  }
  void get(std::string& s) {
    uint64_t n = 0;
    get(n);
    need(n);
    s.assign(in, at, n);
    at += n;
  }
  void get(std::vector<std::string>& list) {
    uint64_t n = 0;
    get(n);
    list.resize(n);
    for (std::string& s : list) get(s);
  }
};

// Every field of PropertyResult, in one order for both directions.
template <class Stream, class Result>
void fields(Stream& s, Result& r) {
  s.put_or_get(r.id, r.kind, r.op, r.dtype, r.passed, r.gave_up, r.cases, r.references, r.saved, r.saved_failed,
               r.saved_unreadable, r.saved_not_judged, r.discarded, r.worst_abs, r.worst_rel, r.worst_ratio, r.seconds,
               r.seed, r.message, r.counterexample, r.reproduce, r.planned, r.stopped_early, r.reference_failed,
               r.replay_fails, r.gradcheck_fails, r.digest);
}
struct Encoder : Writer {
  template <class... T>
  void put_or_get(const T&... v) {
    (put(v), ...);
  }
};
struct Decoder : Reader {
  template <class... T>
  void put_or_get(T&... v) {
    (get(v), ...);
  }
};

// ---- The pipe's messages, worker to parent: a header, then `length` bytes.
enum class Kind : uint8_t { Started, Cases, Result };
struct Header {
  Kind kind;
  uint32_t index;  // the task
  int32_t cases;   // Cases: the task's cases so far
  uint32_t length; // Result: the encoded result's bytes
};

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(3);  // the parent is gone: nothing to report to
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void send(int fd, Kind kind, size_t index, int cases, const std::string& payload = {}) {
  Header h;
  std::memset(&h, 0, sizeof h);  // its padding too: the bytes go through write()
  h.kind = kind;
  h.index = static_cast<uint32_t>(index);
  h.cases = cases;
  h.length = static_cast<uint32_t>(payload.size());
  std::string message(reinterpret_cast<const char*>(&h), sizeof h);
  message += payload;
  write_all(fd, message.data(), message.size());
}

// The worker: claims tasks until none is left, then ends without running exit handlers (the
// parent's buffers and threads are not its own).
[[noreturn]] void work(int fd, std::atomic<uint32_t>& next, const std::vector<GateTask>& tasks,
                       const std::function<properties::RunOptions(size_t)>& options_for) {
  try {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= tasks.size()) break;
      send(fd, Kind::Started, i, 0);
      properties::RunOptions o = options_for(i);
      auto last = std::chrono::steady_clock::now();
      o.on_case = [&](const std::string&, int cases, bool) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last < std::chrono::milliseconds(50)) return;  // the progress line redraws every 0.1 s
        last = now;
        send(fd, Kind::Cases, i, cases);
      };
      send(fd, Kind::Result, i, 0, encode(tasks[i].run(o)));
    }
  } catch (const std::exception& e) {  // as run_cli reports an exception in --jobs 1: exit 2
    std::cerr << "gradoracle: " << e.what() << "\n" << std::flush;
    _exit(2);
  }
  ::close(fd);
  _exit(0);
}

struct Worker {
  pid_t pid = -1;
  int fd = -1;
  std::string buffer;
  long task = -1;  // the task it reported started and not yet finished
};

std::string how_it_ended(int status) {
  if (WIFSIGNALED(status)) {
    const char* name = strsignal(WTERMSIG(status));
    return "signal " + std::to_string(WTERMSIG(status)) + " (" + (name ? name : "?") + ")";
  }
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

std::string encode(const PropertyResult& r) {
  Encoder e;
  fields(e, r);
  e.put(r.fixture.string());
  return std::move(e.out);
}

PropertyResult decode(const std::string& bytes) {
  PropertyResult r;
  Decoder d{{bytes}};
  fields(d, r);
  std::string fixture;
  d.get(fixture);
  r.fixture = fixture;
  if (d.at != bytes.size()) throw std::runtime_error("a worker's result has bytes left over");
  return r;
}

void run_in_workers(const std::vector<GateTask>& tasks, unsigned workers,
                    const std::function<properties::RunOptions(size_t)>& options_for, const WorkerEvents& events) {
  // The next task to claim, shared by the workers (lock-free, so address-free across processes).
  static_assert(std::atomic<uint32_t>::is_always_lock_free);
  void* shared = ::mmap(nullptr, sizeof(std::atomic<uint32_t>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) throw std::runtime_error(std::string("check --jobs: mmap failed: ") + std::strerror(errno));
  auto* next = ::new (shared) std::atomic<uint32_t>(0);

  std::vector<Worker> pool;
  const size_t count = std::min<size_t>(workers, tasks.size());
  if (events.before_fork) events.before_fork();
  for (size_t k = 0; k < count; ++k) {
    int p[2];
    if (::pipe(p) != 0) throw std::runtime_error(std::string("check --jobs: pipe failed: ") + std::strerror(errno));
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("check --jobs: fork failed: ") + std::strerror(errno));
    if (pid == 0) {
      ::close(p[0]);
      for (const Worker& w : pool) ::close(w.fd);
      work(p[1], *next, tasks, options_for);
    }
    ::close(p[1]);
    pool.push_back({pid, p[0], {}, -1});
  }
  if (events.after_fork) events.after_fork();

  size_t open = pool.size();
  char chunk[65536];
  while (open > 0) {
    std::vector<pollfd> fds;
    std::vector<Worker*> of;
    for (Worker& w : pool)
      if (w.fd >= 0) {
        fds.push_back({w.fd, POLLIN, 0});
        of.push_back(&w);
      }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("check --jobs: poll failed: ") + std::strerror(errno));
    }
    for (size_t k = 0; k < fds.size(); ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Worker& w = *of[k];
      const ssize_t r = ::read(w.fd, chunk, sizeof chunk);
      if (r < 0 && errno == EINTR) continue;
      if (r > 0) {
        w.buffer.append(chunk, static_cast<size_t>(r));
        while (w.buffer.size() >= sizeof(Header)) {
          Header h;
          std::memcpy(&h, w.buffer.data(), sizeof h);
          if (w.buffer.size() < sizeof h + h.length) break;
          const std::string payload = w.buffer.substr(sizeof h, h.length);
          w.buffer.erase(0, sizeof h + h.length);
          switch (h.kind) {
            case Kind::Started:
              w.task = h.index;
              events.started(h.index);
              break;
            case Kind::Cases: events.cases(h.index, h.cases); break;
            case Kind::Result:
              w.task = -1;
              events.finished(h.index, decode(payload));
              break;
          }
        }
        continue;
      }
      // End of its pipe: the worker has ended. A clean end leaves no task unreported.
      ::close(w.fd);
      w.fd = -1;
      --open;
      int status = 0;
      while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
      }
      w.pid = -1;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && w.task < 0 && w.buffer.empty()) continue;
      for (Worker& other : pool)
        if (other.pid > 0) {
          ::kill(other.pid, SIGKILL);
          ::waitpid(other.pid, nullptr, 0);
        }
      std::cout.flush();
      std::cerr << "gradoracle check: the worker process running "
                << (w.task >= 0 ? "task " + tasks[static_cast<size_t>(w.task)].id : std::string("no task"))
                << " ended by " << how_it_ended(status) << "; the gate ends the same way (--jobs 1 runs the tasks "
                << "in this process)\n"
                << std::flush;
      if (WIFSIGNALED(status)) {
        std::signal(WTERMSIG(status), SIG_DFL);
        std::raise(WTERMSIG(status));
      }
      std::_Exit(WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 3);
    }
  }
  next->~atomic();
  ::munmap(shared, sizeof(std::atomic<uint32_t>));
}

}  // namespace gradoracle::cli
