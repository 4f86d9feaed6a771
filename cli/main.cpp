// srnas: command-line entry point. Parses, dispatches to cli/cmd_*.cpp, and turns every
// srnas::Error into one line on stderr with exit status 2.
#include <cstdio>
#include <algorithm>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "search_space/cpu_load.h"
#include "search_space/error.h"
#include "search_space/runtime.h"

#ifndef SRNAS_VERSION
#define SRNAS_VERSION "0.0.0"
#endif

namespace srnas::cli {

namespace {
bool watches_cores(const std::string& device) {
  return !torch_threads_chosen() && device != "cuda" && !(device == "auto" && cuda_available());
}
}  // namespace

std::function<void()> load_watch(const char* tag, const std::string& device) {
  if (!watches_cores(device)) return {};
  auto watch = std::make_shared<LoadWatch>(usable_cores(), 30.0);
  return [watch, tag = std::string(tag)] {
    const std::string w = watch->poll(torch_threads());
    if (!w.empty()) fmt::print(stderr, "[{}] warning: {}\n", tag, w);
  };
}

void warn_if_oversubscribed(const char* tag, const std::string& device) {
  if (!watches_cores(device)) return;
  const std::optional<double> busy = sample_cpu_load(250);
  if (!busy) return;
  const std::string w = oversubscription_warning(*busy, usable_cores(), torch_threads());
  if (!w.empty()) fmt::print(stderr, "[{}] warning: {}\n", tag, w);
}

}  // namespace srnas::cli

int main(int argc, char** argv) {
  CLI::App app{"srnas: neural architecture search for efficient x4 super-resolution", "srnas"};
  app.set_version_flag("--version", [] {
    return fmt::format("srnas {} (LibTorch {}, CUDA {}, malloc {})", SRNAS_VERSION, srnas::torch_version(),
                       srnas::cuda_available() ? "available" : "not available", srnas::allocator_name());
  });
  int threads = 0;
  app.add_option("--threads", threads, "LibTorch intra-op threads (default: all cores, or $SRNAS_THREADS)")
      ->check(srnas::cli::int_range(0, 4096));
  app.require_subcommand(1);
  srnas::cli::add_arch_commands(app);
  srnas::cli::add_space_commands(app);
  srnas::cli::add_data_commands(app);
  srnas::cli::add_train_commands(app);
  srnas::cli::add_eval_commands(app);
  srnas::cli::add_search_commands(app);
  srnas::cli::add_report_commands(app);
  srnas::cli::add_ask_commands(app);
  srnas::cli::add_bench_commands(app);
  app.parse_complete_callback([&] { srnas::init_torch_threads(threads); });
  try {
    if (argc > 1 && argv[1][0] != '-') {
      std::vector<std::string> names;
      for (const auto* sub : app.get_subcommands({})) names.push_back(sub->get_name());
      if (std::find(names.begin(), names.end(), argv[1]) == names.end())
        throw srnas::Error(fmt::format("unknown command '{}': expected one of {{{}}}", argv[1], fmt::join(names, ", ")));
    }
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const srnas::cli::ExitStatus& e) {
    return e.code;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "srnas: error: %s (see srnas --help)\n", e.what());
    return 2;
  } catch (const srnas::Error& e) {
    std::fprintf(stderr, "srnas: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "srnas: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
