#include "search_space/text_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "search_space/error.h"

namespace srnas {

namespace fs = std::filesystem;

void write_file_atomic(const std::string& path, std::string_view bytes, std::string_view what) {
  static std::atomic<unsigned> counter{0};
  const std::string tmp = fmt::format("{}.tmp.{}.{}", path, static_cast<long>(::getpid()), counter.fetch_add(1));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("{}: {}: cannot create {}: {}", path, what, tmp, std::strerror(errno)));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::error_code ignore;
      fs::remove(tmp, ignore);
      throw Error(fmt::format("{}: {}: write to {} failed", path, what, tmp));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignore;
    fs::remove(tmp, ignore);
    throw Error(fmt::format("{}: {}: rename from {} failed: {}", path, what, tmp, ec.message()));
  }
}

}  // namespace srnas
