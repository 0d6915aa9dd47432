// RunStress: the one lifecycle around every stress workload (`netrig udp`, `netrig http`, and
// any later one). A workload supplies its setup, its operations (driver.h's Workload) and its
// invariants; RunStress owns everything else, the same way for all of them:
//
//   1. outputs checked before any traffic (--json writable, --finding_dir creatable), so a bad
//      path costs no run;
//   2. seeds resolved (the master seed, the perturbation seed) and the replay recipe built from
//      the workload's rendered options;
//   3. schedule mode set (perturbation) and restored afterwards;
//   4. signal handling (when asked): the first SIGINT/SIGTERM/SIGHUP stops traffic and the
//      workload drains as after an interruption (HTTP cancels what is in flight), a second ends
//      the drain at once;
//   5. Setup -> Drive -> Finish, then the live-object check over every counter of the program,
//      netrig's and the client's own (violation `live_objects`, check/live_objects.h);
//   6. the per-second series (run_series.h, sampled by Drive()), the human summary (stdout, or
//      stderr when the JSON or the page goes to stdout), the JSON report, the HTML page (--html,
//      html_report.h), the finding file (one naming rule, never overwriting; written before the
//      report, so a report that cannot be written never loses the finding) and the exit status
//      (exit_codes.h).
//
// Example (what `netrig udp` does, see harness/workloads/udp/udp_stress.cc):
//   UdpStressOptions options = ...;                  // parsed from its OptionTable
//   ResolveSeeds(options);                           // before rendering the replay arguments
//   UdpStress workload(options);
//   absl::StatusOr<StressResult> result =
//       RunStress(options, "udp", UdpOptionTable().Render(options), workload);
//   return result.ok() ? result->exit_code : kExitUsage;
#ifndef NETRIG_HARNESS_DRIVE_STRESS_RUN_H_
#define NETRIG_HARNESS_DRIVE_STRESS_RUN_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/option_table.h"
#include "harness/check/violation.h"
#include "harness/drive/driver.h"
#include "nlohmann/json.hpp"

namespace netrig {

// The options every stress workload takes; a workload's options derive from it, and
// AddStressOptions() declares them in the workload's OptionTable.
struct StressOptions {
  absl::Duration duration = absl::Seconds(10);
  // The run starts with the network path absent for this long, then the path appears (the
  // field report: traffic blocked for 60-90 s after boot). Traffic runs for the window plus
  // `duration`. 0: the path is there from the start.
  absl::Duration no_path_at_start = absl::ZeroDuration();
  double rate = 0;                       // Operations per second (open loop); 0: closed loop.
  int threads = 2;                       // Driver threads.
  std::optional<uint64_t> seed;          // Unset: a fresh seed (printed first).
  bool perturb = true;                   // Perturb schedule points.
  std::optional<uint64_t> perturb_seed;  // Unset: DeriveSeed(seed, "perturb").
  // Controlled scheduling (harness/sched/controlled.h): "off" (threads run free, perturbed or
  // not), or "random", "pct", "pos": the run's threads run one at a time, the strategy choosing
  // at every scheduling point; perturbation is then off. "portfolio" is resolved by ResolveSeeds
  // into one of them (PortfolioMember).
  std::string schedule = "off";
  std::optional<uint64_t> schedule_seed;  // Unset: DeriveSeed(seed, "schedule").
  int pct_depth = 3;
  // PCT's k: the steps an episode takes, among which the change points are drawn (0: 2000).
  // Take it from the "schedule: N steps" a first run of the same episode reports.
  uint64_t pct_steps = 0;
  // Strict replay: a version 2 finding file whose recorded choices the controlled scheduler
  // forces step by step ("": none). Never recorded, never taken from a file.
  std::string replay_schedule;
  // Stop after this many operations (0: only --duration bounds the run): a bounded episode.
  uint64_t operations = 0;
  // The workload's fault mix: "default", "none", or kind=probability,... (ParseFaultMix).
  std::string faults = "default";
  bool stop_on_violation = true;
  // ASan builds: a quiet LeakSanitizer check this often while traffic runs (0: none). A check
  // that sees unreachable objects is only a suspicion; the check after every object of the run is
  // released decides (base/leak_check.h).
  absl::Duration leak_check_interval = absl::Seconds(10);
  // Outputs (never recorded in replay arguments): the JSON report ("-": stdout), and where a
  // finding file goes ("": none).
  std::string json;
  std::string html;  // The run's HTML page (html_report.h); "": none.
  std::string finding_dir = "artifacts/findings";
  // A controlled run's schedule as a version 2 finding file, violations or not ("": none), so
  // that `netrig replay FILE --check_determinism=N` can replay a clean run strictly too.
  std::string record_schedule;

  // Not options: how the run talks.
  absl::Duration status_interval = absl::Seconds(1);
  FILE* status_out = stderr;    // The status line each interval; null: none.
  FILE* summary_out = stdout;   // Header and summary; null: none. stderr when json is "-".
  bool handle_signals = false;  // Install SIGINT/SIGTERM/SIGHUP handlers for the run.
};

// The longest run any option table accepts; `netrig replay` caps a recorded duration lower.
inline constexpr absl::Duration kMaxStressDuration = absl::Hours(24 * 7);

// Declares StressOptions' options in `table` (T derives from StressOptions).
template <typename T>
void AddStressOptions(OptionTable<T>& table) {
  table
      .Duration("duration", &T::duration, absl::Milliseconds(1), kMaxStressDuration,
                "How long the run drives traffic; draining comes after.")
      .Duration(
          "no_path_at_start", &T::no_path_at_start, absl::ZeroDuration(), absl::Hours(1),
          "Start with the network path absent for this long, then let it appear (udp: the\n"
          "path is down and flows wait; http: the embedded server resets every connection).\n"
          "Traffic runs for this window plus --duration. Under --schedule it is virtual time.")
      .RecordedWhen(
          [](const T& options) { return options.no_path_at_start > absl::ZeroDuration(); })
      .Double("rate", &T::rate, 0, 1e7,
              "Open loop: operations per second (udp: datagrams, http: tasks), latency from\n"
              "each operation's intended start. 0: closed loop, as fast as possible.")
      .Int("threads", &T::threads, 1, 64,
           "Driver threads issuing operations (udp: writers, http: spawners).")
      .Seed("seed", &T::seed,
            "Master seed (decimal); every decision's seed derives from it. Unset: a fresh one,\n"
            "printed first.")
      .Bool("perturb", &T::perturb, "Perturb schedule points (seeded yields and short sleeps).")
      .Seed("perturb_seed", &T::perturb_seed,
            "Schedule perturbation seed. Unset: derived from --seed.")
      .RecordedWhen([](const T& options) { return options.perturb && options.schedule == "off"; })
      .Choice("schedule", &T::schedule, {"off", "random", "pct", "pos", "portfolio"},
              "Controlled scheduling: off, or random|pct|pos to run the run's threads one at a\n"
              "time, the strategy choosing at every scheduling point (virtual time; see the\n"
              "README). Replaces --perturb. portfolio: one of random, pct with depth 1, 2 or 3,\n"
              "and pos, chosen by --schedule_seed (a campaign over seeds runs them all); the\n"
              "run records, and replays, the one it used.")
      .Seed("schedule_seed", &T::schedule_seed,
            "Seed of the controlled schedule. Unset: derived from --seed.")
      .RecordedWhen([](const T& options) { return options.schedule != "off"; })
      .Int("pct_depth", &T::pct_depth, 1, 10,
           "--schedule=pct: the bug depth d searched for (d-1 priority change points).")
      .RecordedWhen([](const T& options) { return options.schedule == "pct"; })
      .UInt64("pct_steps", &T::pct_steps, 0, uint64_t{1} << 40,
              "--schedule=pct: the steps an episode takes (PCT's k; 0: 2000). Use the steps a\n"
              "first run of the same episode reports.")
      .RecordedWhen([](const T& options) { return options.schedule == "pct"; })
      .String("replay_schedule", &T::replay_schedule,
              "Strict replay (what `netrig replay` passes): force the choices recorded in this\n"
              "version 2 finding file step by step; the first that cannot be followed is\n"
              "reported, and the schedule's strategy takes over from there. Needs --schedule.",
              "FILE", OptionRole::kAuthority)
      .UInt64("operations", &T::operations, 0, uint64_t{1} << 40,
              "Stop after this many operations (a bounded episode); 0: --duration alone.")
      .String("faults", &T::faults,
              "Fault mix: default, none, or kind=probability,... (kinds in the usage above).",
              "MIX")
      .Bool("stop_on_violation", &T::stop_on_violation, "Stop traffic at the first violation.")
      .Duration("leak_check_interval", &T::leak_check_interval, absl::ZeroDuration(),
                absl::Hours(24),
                "ASan builds: a quiet LeakSanitizer check this often during traffic (0: none).\n"
                "It only notes suspicions: a leak is reported by the check after the run's\n"
                "objects are released, which always runs.")
      .RecordedWhen([](const T& options) {
        return options.leak_check_interval != StressOptions{}.leak_check_interval;
      })
      .String("json", &T::json,
              "Write the JSON report here (\"-\": stdout, the summary then\n"
              "goes to stderr).",
              "FILE", OptionRole::kOutput)
      .Alias("json_file")
      .String("html", &T::html,
              "Write the run's page here: one self-contained HTML file (timeline per second,\n"
              "latency, violations, configuration and replay command; `netrig report` draws\n"
              "it again from the JSON report).",
              "FILE", OptionRole::kOutput)
      .String("finding_dir", &T::finding_dir,
              "On a violation, write a finding file here (`netrig replay FILE` reruns it);\n"
              "empty: none.",
              "DIR", OptionRole::kOutput)
      .String("record_schedule", &T::record_schedule,
              "With --schedule: write the run's schedule (a version 2 finding file, whether or\n"
              "not the run found anything) here, for `netrig replay FILE --check_determinism=N`.",
              "FILE", OptionRole::kOutput);
}

// The strategy and PCT depth --schedule=portfolio runs under `schedule_seed`: random, pct d=1,
// pct d=2, pct d=3 or pos (depth 0 unless pct), each for a fifth of the seeds.
struct PortfolioMember {
  const char* strategy;
  int pct_depth;
};
PortfolioMember PortfolioMemberFor(uint64_t schedule_seed);

// Fills in `options.seed` (fresh when unset) and `options.perturb_seed` (derived when unset and
// perturbing), and under control `options.schedule_seed` (derived when unset) and, for
// --schedule=portfolio, the member it picks, so that the options render into replay arguments
// that carry every seed and the strategy actually used.
void ResolveSeeds(StressOptions& options);

// What the run core hands a workload's Setup().
struct StressContext {
  uint64_t seed = 0;
  std::optional<uint64_t> perturb_seed;
  ViolationLog* violations = nullptr;
  absl::Time end;  // When traffic stops at the latest.
  // When the path appears (the setup time plus --no_path_at_start; the setup time when 0).
  absl::Time path_appears;
};

// Operations that ended, for the "most operations failed without a fault" check.
struct OperationTally {
  std::string unit = "operations";  // "tasks", "datagrams"
  uint64_t ended = 0;               // Ended on their own (harness cancels excluded).
  uint64_t failed = 0;              // Of which failed.
  uint64_t faults_injected = 0;     // An upper bound on the failures faults explain.
  // The failures by kind, for messages ("timeout 126, reset 3"); empty when none.
  std::string failures;
  // False when the peer or server is not netrig's own (--target, --peer): then a failure may be
  // the peer's, and --faults=none does not make every failure a finding.
  bool peer_is_embedded = true;
};

class StressWorkload : public Workload {
 public:
  // What is under test ("socket", "curl"): the finding file's name and the header.
  virtual std::string subject() const = 0;
  // The header line after "netrig <command>: ", e.g. "flow socket, loopback echo".
  virtual std::string Describe() const = 0;
  // Starts peers, servers, clients. An error ends the run before traffic (exit 2).
  virtual absl::Status Setup(const StressContext& context) = 0;
  // How the driver runs this workload (RunStress fills in duration, threads and the like from
  // StressOptions first; a workload may adjust, e.g. the rate per batched operation).
  virtual void AdjustDrive(DriveOptions& /*drive*/) {}
  // After traffic: retire, drain (at once when DrainCutRequested(); cancelling in-flight work
  // when `interrupted`), stop peers; end-of-run invariants report into the ViolationLog.
  virtual void Finish(const DriveResult& drive, bool interrupted) = 0;
  // The workload's own report fields and summary rows.
  virtual void AddReport(const DriveResult& drive, nlohmann::json& report,
                         std::vector<std::pair<std::string, std::string>>& summary) = 0;
  virtual OperationTally Tally() const = 0;
  // What the series' in-flight gauge counts (Workload::SampleSeries): "tasks", "bytes".
  virtual std::string InFlightUnit() const { return "operations"; }
};

struct StressResult {
  int exit_code = 0;  // exit_codes.h: 0, 1, 3 or 128+signal.
  nlohmann::json report;
  uint64_t violation_total = 0;
  std::vector<Violation> violations;  // The kept ones.
  std::vector<std::pair<std::string, uint64_t>> violation_counts;
  std::string finding_path;  // Empty when none was written.
  std::string inconclusive;  // Why the run cannot vouch for the client; empty when it can.
  // A `hang`: threads are still blocked inside the client under test, holding pointers into the
  // run (kept alive, KeepAliveForWedgedThreads). A command-line caller should then end the process
  // with std::_Exit after flushing: exit() would run static destructors under those threads.
  bool operations_wedged = false;

  bool HasViolation(absl::string_view kind) const;
  // Each kept violation on a line, for test failure messages.
  std::string DescribeViolations() const;
};

// Runs `workload` under `options` (seeds resolved; see ResolveSeeds). `replay_args` are the
// arguments after `netrig <command>` that rerun it. Errors (nothing useful ran): an output that
// cannot be written, a failed Setup.
absl::StatusOr<StressResult> RunStress(const StressOptions& options, absl::string_view command,
                                       std::vector<std::string> replay_args,
                                       StressWorkload& workload);

// The finding file's path: "<dir>/<command>-<subject>-<seed>-<kinds>.json", with "-2", "-3"...
// before ".json" when that name is taken (a finding is never overwritten). Unsafe characters in
// `subject` become '_'.
std::string FindingPath(absl::string_view dir, absl::string_view command, absl::string_view subject,
                        uint64_t seed, const std::vector<std::string>& kinds);

}  // namespace netrig

#endif  // NETRIG_HARNESS_DRIVE_STRESS_RUN_H_
