// A property that fails on purpose (any integer from 10 up), for properties.replay_line: the
// replay line of its failure report (expect_passes) must run as printed and fail again, on the
// same shrunk case.
#include "property_test.hpp"

GRADORACLE_PROP(Planted, SmallIntegersOnly, 100) {
  const int x = *rc::gen::inRange(0, 1000);
  RC_ASSERT(x < 10);
}
