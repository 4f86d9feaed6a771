// CLI subcommand families. Each add_* registers its subcommands on the app; the
// callbacks parse, call the library, and print. Errors are thrown as srnas::Error and
// printed once by main() as "srnas: error: ..." with exit status 2.
#pragma once

#include <exception>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace srnas::cli {

void add_arch_commands(CLI::App& app);
void add_space_commands(CLI::App& app);
void add_data_commands(CLI::App& app);
void add_train_commands(CLI::App& app);
void add_eval_commands(CLI::App& app);
void add_bench_commands(CLI::App& app);
void add_search_commands(CLI::App& app);
void add_report_commands(CLI::App& app);
void add_ask_commands(CLI::App& app);

// Long commands (search, train) call this first with their device ("auto", "cpu", "cuda"):
// on CPU, unless the thread count was chosen (--threads, $SRNAS_THREADS), it samples the node's load for 0.25 s and prints one warning
// line when other processes leave too few cores for LibTorch's threads (search_space/cpu_load.h).
void warn_if_oversubscribed(const char* tag, const std::string& device);
// The same check while a one-process search trains: a heartbeat callback that reads the load
// every 30 s and warns once (LoadWatch); empty where warn_if_oversubscribed would not look.
std::function<void()> load_watch(const char* tag, const std::string& device);

// Thrown by a command that ends with another exit status than 0 and no error (`srnas ask`:
// 3 = nothing left to hand out).
struct ExitStatus {
  int code;
};

// An integer option's check, in srnas's own words and the same on every CLI11 version
// (CLI::Range's message changed between CLI11 2.3 and 2.4): the error reads
// "--track: expected an integer in [1, 3], got 4", as config fields' errors do.
inline CLI::Validator int_range(long long lo, long long hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi, range](std::string& s) -> std::string {
        long long v = 0;
        size_t used = 0;
        try {
          v = std::stoll(s, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != s.size()) return "expected an integer in " + range + ", got '" + s + "'";
        if (v < lo || v > hi) return "expected an integer in " + range + ", got " + s;
        return "";
      },
      "in " + range);
}

// A path option whose absence means a default (`--db` of search and ask: the config's db, else
// <study>.db): given empty (an unset shell variable), it is an error, not the default.
inline CLI::Validator non_empty_path() {
  return CLI::Validator([](std::string& s) -> std::string { return s.empty() ? "expected a file path, got ''" : ""; },
                        "PATH");
}

}  // namespace srnas::cli
