//! Detection kernels: the box convention and box ops, anchors, RoI pooling, RoIAlign, NMS, proposals, target assignment.
//!
//! Every box in the crate follows [`boxes`]' convention: continuous `(x1, y1, x2, y2)`, area
//! `(x2 - x1) * (y2 - y1)`, no +1.

pub mod anchors;
pub mod boxes;
pub mod nms;
pub mod proposals;
pub mod roi_align;
pub mod roi_pool;
pub mod roi_tiles;
pub mod targets;

pub use anchors::AnchorConfig;
pub use boxes::{BoxCoder, BoxF};
pub use nms::{batched_nms, nms, NmsConfig};
pub use proposals::{proposals, ProposalConfig, Proposals};
pub use roi_align::{roi_align_backward, roi_align_forward, RoiAlignConfig};
pub use roi_pool::{roi_pool_backward, roi_pool_forward};
pub use targets::{assign_targets, MatchConfig, Targets};
