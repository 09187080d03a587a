// The command line: subcommands and their options (CLI11), dispatched to commands.hpp.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "gradoracle/cli/cli.hpp"
#include "gradoracle/properties/properties.hpp"
#include "gradoracle/fixtures/fixture.hpp"

namespace gradoracle::cli {

namespace {

// A number > 0 or >= 0: the message names the bound (CLI::PositiveNumber's names the largest
// double, 309 digits). CLI11 puts the option's name before it.
CLI::Validator number_above_zero(bool or_zero) {
  const std::string want = or_zero ? "a number >= 0" : "a number > 0";
  return CLI::Validator(
      [=](const std::string& s) {
        double v = 0;
        if (!CLI::detail::lexical_cast(s, v) || !(or_zero ? v >= 0 : v > 0))
          return "expected " + want + ", got \"" + s + "\"";
        return std::string();
      },
      or_zero ? "NUMBER>=0" : "NUMBER>0");
}
const CLI::Validator kPositive = number_above_zero(false), kNonNegative = number_above_zero(true);

// Every --seed: a decimal integer from 0 to 2^64 - 1 (every seed the tool prints), or, where
// `random` is allowed, that word. The value is rewritten in canonical decimal, which CLI11's own
// conversion (strtoull, base 0) reads as the same number.
CLI::Validator seed_option(bool random_allowed) {
  return CLI::Validator(
      [random_allowed](std::string& s) {
        if (random_allowed && s == "random") return std::string();
        if (const std::optional<uint64_t> seed = parse_seed(s)) {
          s = std::to_string(*seed);
          return std::string();
        }
        return "expected an integer from 0 to " + std::to_string(UINT64_MAX) + (random_allowed ? " or `random`" : "") +
               ", got \"" + s + "\"";
      },
      random_allowed ? "UINT64|random" : "UINT64");
}

void add_check_options(CLI::App* cmd, CheckArgs& a) {
  cmd->add_option("paths", a.paths, "more fixture files or directories (the recorded corpus is embedded)");
  cmd->add_option("--seed", a.seed, "RapidCheck seed: 0 to " + std::to_string(UINT64_MAX) +
                                        ", or `random` (printed); default 1")
      ->transform(seed_option(true));
  cmd->add_option("--cases", a.cases, "cases per property (default: " + std::to_string(kGateOpCases) +
                                          " per op and dtype, after its reference inputs; " +
                                          std::to_string(kGateProgramCases) + " per program sweep; " +
                                          std::to_string(kGateStructuralCases) + " per structural property)")
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("-j,--jobs", a.jobs, "tasks run at once, each in a worker process (default: the number of "
                                     "hardware threads, " + std::to_string(a.jobs) + " here); the report does not "
                                     "depend on it but for times (--maxfail and --engine run one at a time)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--time", a.seconds, "time budget in seconds for the whole run: tasks share it and stop drawing "
                                       "cases when their share is spent (the report says so)")
      ->check(kPositive);
  cmd->add_option("--shard", a.shard, "I/N: run shard I (0-based) of N; the shards partition the tasks");
  cmd->add_option("--op", a.ops, "focus: gradcheck only this op, both dtypes (repeat the option for more; "
                                 "see `gradoracle ops`)")
      ->allow_extra_args(false);
  cmd->add_option("--task", a.tasks, "focus: tasks whose id matches, `*` matching any run (repeat the option "
                                     "for more; e.g. program/float32, 'structural/*', --list shows ids)")
      ->allow_extra_args(false);
  cmd->add_option("--dtype", a.dtypes, "float64 or float32 (repeat the option for both; default both)")
      ->allow_extra_args(false)
      ->check(CLI::IsMember({"float32", "float64"}));
  cmd->add_option("--counterexamples", a.counterexample_dir,
                  "where shrunk failures are written as fixtures, which later runs re-run first (default: "
                  "$GRADORACLE_COUNTEREXAMPLE_DIR, else "
                  "counterexamples/ in this binary's build directory, else ~/.cache/gradoracle/counterexamples; "
                  "here " + properties::counterexample_dir().string() + ")");
  cmd->add_option("--reproduce", a.reproduce, "RC_PARAMS a failure printed (\"seed=... reproduce=...\"): "
                                             "replay exactly that shrunk case, of a task the command selects, "
                                             "with the seed the string names")
      ->excludes("--seed");
  auto* maxfail = cmd->add_option("--maxfail", a.maxfail, "stop after N failed tasks (the rest are reported as not run)")
                      ->check(CLI::Range(1, 1000000));
  cmd->add_flag_callback("-x,--exitfirst", [&a] { a.maxfail = 1; }, "stop at the first failed task (--maxfail 1)")
      ->excludes(maxfail);
  cmd->add_flag("--list", a.list, "print the ids of the tasks this invocation would run, and exit");
  cmd->add_flag("--progress", a.progress, "redraw a progress line in place even when not on a terminal");
  cmd->add_flag("--no-progress", a.no_progress, "plain lines even on a terminal")->excludes("--progress");
  cmd->add_option("--engine", a.engine.command, "check an outside engine: CMD is started by `sh -c` and spoken to over "
                                                "the engine protocol (docs/engine-protocol.md); the fixtures, op, program "
                                                "and second-order tasks of what it declares run in it, each case also "
                                                "compared with gradoracle's own run; e.g. \"/usr/bin/python3 "
                                                "tools/torch_fixture.py serve\"");
  cmd->add_option("--engine-timeout", a.engine.timeout_seconds, "seconds the engine may take per request (default 60)")
      ->check(kPositive);
}

}  // namespace

int run_cli(int argc, char** argv, const registry::OpTable& ops) {
  CLI::App app{"gradoracle: the gradient gate (check); replay, gradcheck and generate autodiff fixtures (format v1)\n"
               "exit codes: 0 all pass, 1 a check fails (a gradient is wrong), 2 bad input or usage, " +
               std::to_string(kNothingChecked) + " check ran no case (as pytest's 5: nothing was tested)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "gradoracle " GRADORACLE_VERSION);
  app.set_help_all_flag("--help-all", "help for every subcommand");

  // Only the options of the subcommand that runs are set up (CLI11's setup of every option of
  // every subcommand was a third of the process start): all of them when the first argument
  // names no subcommand (--help, --help-all, --version, a typo), so help and errors read as before.
  const std::string_view first = argc > 1 ? argv[1] : "";
  const auto runs = [&](std::string_view name) { return first.empty() || first[0] == '-' || first == name; };

  Output out;
  if (argc > 0) out.program = argv[0];
  auto add_output = [&](CLI::App* sub) {
    sub->add_flag("--json", out.json, "machine-readable report on stdout (the per-fixture lines go to stderr)");
    sub->add_option("--junit", out.junit_file, "write a JUnit XML report to FILE (atomically)");
  };

  // --jobs for the subcommands that judge fixture files independently.
  unsigned jobs = default_jobs();
  auto add_jobs = [&](CLI::App* sub) {
    sub->add_option("-j,--jobs", jobs, "fixtures judged at once, in threads (default: the number of hardware "
                                       "threads, " + std::to_string(jobs) + " here); the output does not depend on it")
        ->check(CLI::Range(1, 1024));
  };

  std::vector<std::string> replay_paths;
  CLI::App* replay_cmd = app.add_subcommand("replay", "run fixtures in the engine and check every expect");
  EngineArgs engine;
  auto add_engine = [&](CLI::App* sub) {
    sub->add_option("--engine", engine.command, "run the fixtures in an outside engine: CMD is started by `sh -c` "
                                                "and spoken to over the engine protocol (docs/engine-protocol.md); "
                                                "e.g. \"/usr/bin/python3 tools/torch_fixture.py serve\"");
    sub->add_option("--engine-timeout", engine.timeout_seconds, "seconds the engine may take per request (default 60); "
                                                                "then it is killed and the case is an error")
        ->check(kPositive);
  };
  if (runs("replay")) {
    replay_cmd->add_option("paths", replay_paths, "fixture files or directories (searched for *.json)")->required();
    add_output(replay_cmd);
    add_jobs(replay_cmd);
    add_engine(replay_cmd);
  }

  std::vector<std::string> check_paths;
  oracle::GradCheckOptions gopt;
  bool fast = false;
  std::optional<double> eps, atol, rtol;
  uint64_t check_seed = 0;
  CLI::App* check_cmd =
      app.add_subcommand("gradcheck", "finite-difference check of each fixture's program (leaves -> backward roots)");
  std::string scheme = "central", step = "relative", kinks = "report";
  if (runs("gradcheck")) {
    check_cmd->add_option("paths", check_paths, "fixture files or directories")->required();
    check_cmd->add_flag("--fast", fast, "vᵀJu probes instead of the full Jacobian (explained on failure)");
    check_cmd->add_option("--eps", eps, "finite-difference step (default 1e-6, relative)")->check(kPositive);
    check_cmd->add_option("--atol", atol, "absolute tolerance (default by dtype)")->check(kNonNegative);
    check_cmd->add_option("--rtol", rtol, "relative tolerance (default by dtype)")->check(kNonNegative);
    check_cmd->add_option("--seed", check_seed, "seed of fast mode's probes (default 0)")->transform(seed_option(false));
    check_cmd->add_option("--scheme", scheme, "finite differences: central (error O(h^2)), or richardson (error "
                                              "O(h^4), its estimate added to the allowance; twice the evaluations)")
        ->check(CLI::IsMember({"central", "richardson"}));
    check_cmd->add_option("--step", step, "the step h: relative (eps*max(1,|x|), default) or absolute (eps)")
        ->check(CLI::IsMember({"relative", "absolute"}));
    check_cmd->add_option("--kinks", kinks, "entries whose one-sided differences disagree (non-differentiable "
                                            "points): report (listed apart, not failing; default), fail (count as "
                                            "failures), off (not detected: judged by the tolerance alone)")
        ->check(CLI::IsMember({"report", "fail", "off"}));
    check_cmd->add_flag("--allow-nonfinite", gopt.allow_nonfinite,
                        "an entry whose analytic and numeric sides are the same NaN or infinity passes "
                        "(default: any non-finite entry fails, as in torch.autograd.gradcheck)");
    add_output(check_cmd);
    add_jobs(check_cmd);
    add_engine(check_cmd);
  }

  std::vector<std::string> gen_ops;
  bool gen_all = false;
  int gen_programs = 0;
  uint64_t gen_seed = 0;
  std::string gen_out, gen_dtype = "float64";
  CLI::App* gen_cmd = app.add_subcommand("generate", "write reference fixtures computed by the engine");
  bool gen_references = false;
  if (runs("generate")) {
    gen_cmd->add_option("--op", gen_ops, "an op to generate a fixture for (repeat the option for more)")
        ->allow_extra_args(false);
    gen_cmd->add_flag("--all", gen_all, "one fixture per registered op");
    gen_cmd->add_option("--programs", gen_programs, "N random programs")->check(CLI::Range(0, 1000000));
    gen_cmd->add_flag("--references", gen_references, "every op's reference inputs (kinks, ties, large magnitudes)");
    gen_cmd->add_option("--seed", gen_seed, "seed (program i uses seed + i)")->transform(seed_option(false));
    gen_cmd->add_option("--dtype", gen_dtype, "float64 (default) or float32")->check(CLI::IsMember({"float32", "float64"}));
    gen_cmd->add_option("--out", gen_out, "output directory")->required();
    add_output(gen_cmd);
  }

  CLI::App* serve_cmd = app.add_subcommand(
      "serve", "be an engine under test: gradoracle's engine over the engine protocol on stdin/stdout (the C++ "
               "adapter; docs/engine-protocol.md)");

  CLI::App* ops_cmd = app.add_subcommand("ops", "list the registered ops: arity, shapes, domains, attrs");
  if (runs("ops")) add_output(ops_cmd);

  CheckArgs gate;
  gate.program = argc > 0 ? argv[0] : "gradoracle";
  CLI::App* gate_cmd = app.add_subcommand(
      "check", "the gate: the recorded corpus (embedded), fixture dirs, every op's gradcheck in both dtypes, "
               "random programs, structural properties");
  if (runs("check")) {
    add_check_options(gate_cmd, gate);
    add_output(gate_cmd);
  }

  // The subcommands, for the messages about a missing or unknown one.
  std::string subcommands;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    subcommands += (subcommands.empty() ? "" : ", ") + sub->get_name();
  if (argc > 1 && argv[1][0] != '-' && app.get_subcommands([&](CLI::App* sub) { return sub->check_name(argv[1]); }).empty()) {
    std::cerr << "gradoracle: unknown subcommand \"" << argv[1] << "\" (one of: " << subcommands
              << "; gradoracle --help)\n";
    return kBad;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (app.get_subcommands().empty() && dynamic_cast<const CLI::RequiredError*>(&e)) {
      std::cerr << "gradoracle: a subcommand is required (one of: " << subcommands << "; gradoracle --help)\n";
      return kBad;
    }
    app.exit(e);
    return kBad;
  }
  // Outputs are checked before any work: a report that cannot be written refuses the run.
  if (!out.junit_file.empty()) {
    try {
      fixtures::check_writable(out.junit_file);
    } catch (const std::exception& e) {
      std::cerr << "gradoracle: --junit: " << e.what() << "\n";
      return kBad;
    }
  }

  try {
    if (*replay_cmd) return cmd_replay(replay_paths, jobs, out, ops, engine);
    if (*serve_cmd) return cmd_serve(GRADORACLE_VERSION, ops);
    if (*check_cmd) {
      gopt.fast_mode = fast;
      if (eps) gopt.eps = *eps;
      gopt.atol = atol;
      gopt.rtol = rtol;
      gopt.seed = check_seed;
      gopt.scheme = scheme == "richardson" ? oracle::Scheme::Richardson : oracle::Scheme::Central;
      gopt.step = step == "absolute" ? oracle::Step::Absolute : oracle::Step::Relative;
      gopt.detect_kinks = kinks != "off";
      gopt.kinks_fail = kinks == "fail";
      return cmd_gradcheck(check_paths, gopt, jobs, out, ops, engine);
    }
    if (*gen_cmd) {
      if (gen_ops.empty() && !gen_all && gen_programs == 0 && !gen_references) {
        std::cerr << "gradoracle generate: give --op NAME, --all, --programs N or --references\n" << gen_cmd->help();
        return kBad;
      }
      return cmd_generate(gen_ops, gen_all, gen_programs, gen_references, gen_seed, gen_dtype, gen_out, out, ops);
    }
    if (*ops_cmd) return cmd_ops(out, ops);
    if (*gate_cmd) return cmd_check(gate, out, ops);
  } catch (const std::exception& e) {
    std::cerr << "gradoracle: " << e.what() << "\n";
    return kBad;
  }
  return kBad;
}

}  // namespace gradoracle::cli
