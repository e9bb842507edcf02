#pragma once
// Gradient and attention baselines on the same contract model as AtMan, for
// `atman explain --method` and `atman eval` (the paper's comparison): one
// file per method behind the registry.
//
//   registry.h   Method, parse_method, explain_with_method (the common interface)
//   ixg.h        Input x Gradient
//   ig.h         Integrated Gradients
//   rollout.h    Attention rollout
//   chefer.h     Chefer et al. 2021
//   attnlrp.h    AttnLRP (Achtibat et al. 2024), Input x Gradient through forward_lrp
//   loo.h        Leave-one-out (input removal, removal.h)
//
// Rollout and chefer need the optional contract method
// forward_with_attentions (docs/contract.md); ixg and ig use hidden_states +
// lm_head when the model has them (only the target rows go through the LM
// head, as AtMan's target-only passes do), else forward.

#include "atman/methods/attnlrp.h"
#include "atman/methods/chefer.h"
#include "atman/methods/ig.h"
#include "atman/methods/ixg.h"
#include "atman/methods/loo.h"
#include "atman/methods/registry.h"
#include "atman/methods/rollout.h"
