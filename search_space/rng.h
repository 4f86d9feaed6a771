// Rng: the seeded random source of srnas (sampling genomes, mutations, samplers).
//
// Contract: the sequence depends only on the seed, on every platform and standard
// library (std::uniform_int_distribution is implementation-defined, so it is not used).
#pragma once

#include <cstdint>
#include <random>

namespace srnas {

// SplitMix64 finaliser: mixes a seed with a counter into an independent seed
// (per-proposal seeds in samplers, per-sample seeds in the loader).
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : eng_(seed) {}
  uint64_t next() { return eng_(); }
  // Uniform integer in [0, n), n >= 1, by rejection (no modulo bias).
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = eng_(); while (x >= limit);
    return x % n;
  }
  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return double(eng_() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  std::mt19937_64 eng_;
};

}  // namespace srnas
