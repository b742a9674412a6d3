#pragma once
// A minimal test harness: CHECK(cond) records a failure with file:line; main returns the count.
#include <cstdio>

namespace sk_test {
inline int& failures() {
  static int f = 0;
  return f;
}
}  // namespace sk_test

#define CHECK(cond)                                                 \
  do {                                                              \
    if (!(cond)) {                                                  \
      std::printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++sk_test::failures();                                        \
    }                                                               \
  } while (0)

#define CHECK_THROWS(expr, type)                                                            \
  do {                                                                                      \
    bool caught_ = false;                                                                   \
    try {                                                                                   \
      expr;                                                                                 \
    } catch (const type&) {                                                                 \
      caught_ = true;                                                                       \
    } catch (...) {                                                                         \
    }                                                                                       \
    if (!caught_) {                                                                         \
      std::printf("FAILED %s:%d: %s did not throw %s\n", __FILE__, __LINE__, #expr, #type); \
      ++sk_test::failures();                                                                \
    }                                                                                       \
  } while (0)

#define TEST_MAIN_END()                                              \
  std::printf("%s: %d failure(s)\n", __FILE__, sk_test::failures()); \
  return sk_test::failures() == 0 ? 0 : 1;
