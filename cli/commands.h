// CLI subcommand families. Each add_* registers its subcommands on the app; the
// callbacks parse, call the library, and print. Errors are thrown as srnas::Error and
// printed once by main() as "srnas: error: ..." with exit status 2.
#pragma once

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

}  // namespace srnas::cli
