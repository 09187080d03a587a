#pragma once
// The reports every subcommand writes: one Case per fixture, op or task; the terminal lines,
// --json on stdout and --junit FILE (written atomically: a temporary file, then rename).
#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace gradoracle::cli {

// Exit codes: all pass, a check fails (a gradient is wrong), bad input or usage; and, for
// `check`, a run that checked no case (pytest's code when no test ran).
inline constexpr int kPass = 0, kFail = 1, kBad = 2, kNothingChecked = 5;

// One line of a report: a fixture (or op) and what became of it.
struct Case {
  std::string name;     // the fixture's name, or the file when it could not be read
  std::string file;     // "" for ops
  std::string status;   // "pass", "fail", "error" (bad input), "skip"
  std::string message;  // one line
  double seconds = 0;
  nlohmann::json detail;  // the subcommand's own report of this case
  std::string classname;  // JUnit classname; "" -> "gradoracle.<command>"
};

struct Report {
  std::string command;
  std::vector<Case> cases;
  // JUnit's <properties>: the settings the run used (seed, shard, budget, checker options).
  std::vector<std::pair<std::string, std::string>> properties = {};
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  int exit_code() const;  // kBad if any case is an error, else kFail if any failed, else kPass
};

struct Output {
  bool json = false;
  std::string junit_file;
  std::string program = "gradoracle";  // argv[0], for the commands a message suggests
};

// JUnit XML as tests/cli/junit.xsd describes it (the Ant/Surefire/Jenkins form): times in
// seconds with three decimals, the start as a local ISO 8601 timestamp without zone, the
// report's properties, and `file` only where a case has a path or a name that says what it is.
std::string junit(const Report& r);
nlohmann::json report_json(const Report& r);
// Writes the JUnit file if asked; returns `code`, or kBad if the file cannot be written.
int write_junit(const Report& r, const Output& o, int code);
// Prints the report's JSON if asked, writes the JUnit file; returns the exit code.
int finish(const Report& r, const Output& o);
// FILE|DIR... -> the .json files, sorted within each directory. A missing path, or a
// directory without fixtures, is an error case in `report`.
std::vector<std::string> expand(const std::vector<std::string>& paths, Report& report);
// "PASS name (file): message", on stdout (stderr under --json).
void print_line(const Case& c, bool json_mode);
double since(std::chrono::steady_clock::time_point t0);
// `s` as one shell word: as is when every character is plain (letters, digits, /._+-=:,@%), else
// in single quotes.
std::string shell_quote(const std::string& s);
// "1 task", "0 tasks", "3 tasks": a count and its noun, plural unless the count is 1.
std::string counted(long long n, const std::string& noun);

}  // namespace gradoracle::cli
