// Space: a family of genomes described by a list of discrete genes (configs/spaces/*.yaml).
//
// A Space proposes nothing by itself: samplers use it to draw genomes (sample), to
// move between them (mutate: exactly one gene changes and the genome differs), and
// to check that a genome belongs to it (validate). Genes are categorical: a gene
// value is an index into Gene::labels. encode/decode map Genome <-> gene values.
// Kinds: "krahaon" (x, y, z, nx, ny, nz), "neptuneai" (per-slot block choice over a
// fixed trunk), "unified" (every block type, widths, counts, upsampler, skips).
// Contract: everything is a pure function of (space, seed); encode throws
// srnas::Error saying why a genome is outside the space.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "search_space/genome.h"
#include "search_space/rng.h"

namespace srnas {

struct Gene {
  std::string name;
  std::vector<std::string> labels;  // one per value; size() >= 1
};

class Space {
 public:
  virtual ~Space() = default;
  const std::string& name() const { return name_; }
  const std::string& kind() const { return kind_; }
  const std::vector<Gene>& genes() const { return genes_; }

  virtual Genome decode(const std::vector<int>& values) const = 0;
  virtual std::vector<int> encode(const Genome& g) const = 0;

  Genome sample(Rng& rng) const;                     // each gene uniform, independent
  std::vector<int> sample_values(Rng& rng) const;
  Genome mutate(const Genome& g, Rng& rng) const;    // one gene changed, result != g
  void validate(const Genome& g) const;              // throws Error if g is not in the space
  bool contains(const Genome& g) const;

  // Loads a built-in space by name or a YAML file.
  static std::unique_ptr<Space> load(const std::string& name_or_file);

 protected:
  std::string name_, kind_;
  std::vector<Gene> genes_;
  void check_values(const std::vector<int>& v) const;
};

}  // namespace srnas
