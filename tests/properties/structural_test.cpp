// The structural properties, in float64 and float32: facts every backward satisfies.
#include "property_test.hpp"

namespace gradoracle::properties {
namespace {

#define GRADORACLE_STRUCTURAL(Name, fn)                                                       \
  GRADORACLE_PROP(Structural, Name##Float64, kStructuralCases, ()) { fn(DType::Float64); } \
  GRADORACLE_PROP(Structural, Name##Float32, kStructuralCases, ()) { fn(DType::Float32); }

GRADORACLE_STRUCTURAL(TwoBackwardsGiveTwiceTheGrads, prop_backward_twice)
GRADORACLE_STRUCTURAL(GradsAreLinearInTheUpstream, prop_linear_in_upstream)
GRADORACLE_STRUCTURAL(SplitBatchGivesTheSameGrads, prop_split_batch)
GRADORACLE_STRUCTURAL(ClipGradNormMatchesItsClosedForm, prop_clip_grad_norm)
GRADORACLE_STRUCTURAL(DetachCutsExactlyTheDetachedPath, prop_detach_cuts_path)
GRADORACLE_STRUCTURAL(ValuesAreEqualWithoutGradTracking, prop_values_without_grad)

}  // namespace
}  // namespace gradoracle::properties
