// Uses the installed headers: FWHT of a known vector and one Philox known-answer block.
#include <cstdio>
#include <sparsketch/sparsketch.hpp>
#include <vector>

int main() {
  std::vector<double> x{1, 0, 1, 0, 0, 1, 1, 0};
  // The definition: h[k] = sum_t (-1)^popcount(k & t) x[t].
  std::vector<double> h(8, 0.0);
  for (int k = 0; k < 8; ++k)
    for (int t = 0; t < 8; ++t) h[k] += (__builtin_popcount(k & t) & 1 ? -1.0 : 1.0) * x[t];
  sparsketch::fwht(x.data(), 8);
  for (int k = 0; k < 8; ++k)
    if (x[k] != h[k]) {
      std::printf("fwht mismatch at %d: %g != %g\n", k, x[k], h[k]);
      return 1;
    }
  auto r = sparsketch::philox4x32_10({0u, 0u, 0u, 0u}, {0u, 0u});
  if (r[0] != 0x6627e8d5u) {
    std::printf("philox mismatch\n");
    return 1;
  }
  try {
    std::vector<double> bad(6);
    sparsketch::fwht(bad.data(), 6);
    std::printf("no exception for n = 6\n");
    return 1;
  } catch (const sparsketch::value_error&) {
  }
  std::printf("sparsketch %s consumer OK\n", SPARSKETCH_VERSION_STRING);
  return 0;
}
