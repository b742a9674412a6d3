// Philox4x32-10 against the Random123 known-answer vectors (tests/kat_vectors in Random123:
// counter[4], key[2] -> output[4]), and the stream / thread-independence contract.
#include <cmath>
#include <vector>

#include "check.hpp"
#include "sparsketch/sparsketch.hpp"

using namespace sparsketch;

int main() {
  {
    auto r = philox4x32_10({0u, 0u, 0u, 0u}, {0u, 0u});
    CHECK(r[0] == 0x6627e8d5u && r[1] == 0xe169c58du && r[2] == 0xbc57ac4cu && r[3] == 0x9b00dbd8u);
  }
  {
    auto r = philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                           {0xffffffffu, 0xffffffffu});
    CHECK(r[0] == 0x408f276du && r[1] == 0x41c83b0eu && r[2] == 0xa20bc7c6u && r[3] == 0x6d5451fdu);
  }
  {
    auto r = philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                           {0xa4093822u, 0x299f31d0u});
    CHECK(r[0] == 0xd16cfe09u && r[1] == 0x94fdccebu && r[2] == 0x5001e420u && r[3] == 0x24126ea1u);
  }
  // The stream maps (seed, tag, i) to counter {i_lo, i_hi, tag_lo, tag_hi}, key {seed_lo, seed_hi}.
  {
    const CounterRng g(0x299f31d0a4093822ull, 0x0370734413198a2eull);
    auto r = g.block(0x85a308d3243f6a88ull);
    CHECK(r[0] == 0xd16cfe09u && r[3] == 0x24126ea1u);
  }
  // Same (seed, tag, i) -> same draw, whatever order positions are visited in; different
  // tags and seeds give different streams.
  {
    const CounterRng a(42, StreamTag::sketch_signs), b(42, StreamTag::sketch_rows),
        c(43, StreamTag::sketch_signs);
    std::vector<double> fwd(1000), bwd(1000);
    for (int i = 0; i < 1000; ++i) fwd[i] = a.uniform(i);
    for (int i = 999; i >= 0; --i) bwd[i] = a.uniform(i);
    CHECK(fwd == bwd);
    int same_tag = 0, same_seed = 0;
    for (int i = 0; i < 1000; ++i) {
      same_tag += a.uniform(i) == b.uniform(i);
      same_seed += a.uniform(i) == c.uniform(i);
    }
    CHECK(same_tag == 0 && same_seed == 0);
  }
  // Ranges and crude moments (n = 1e5: the mean of U(0,1) has sd 0.0009, so |mean-1/2| < 0.005
  // fails with probability < 1e-7; same scale for the other moments).
  {
    const CounterRng g(7, StreamTag::test);
    const int n = 100000;
    double su = 0, sn = 0, sn2 = 0, sr = 0;
    bool in_range = true;
    for (int i = 0; i < n; ++i) {
      const double u = g.uniform(i), up = g.uniform_pos(i), z = g.normal(i);
      in_range = in_range && u >= 0.0 && u < 1.0 && up > 0.0 && up <= 1.0 && std::isfinite(z);
      su += u;
      sn += z;
      sn2 += z * z;
      sr += g.rademacher(i);
      in_range = in_range && g.below(i, 10) < 10;
    }
    CHECK(in_range);
    CHECK(std::fabs(su / n - 0.5) < 0.005);
    CHECK(std::fabs(sn / n) < 0.02);
    CHECK(std::fabs(sn2 / n - 1.0) < 0.03);
    CHECK(std::fabs(sr / n) < 0.02);
  }
  TEST_MAIN_END()
}
