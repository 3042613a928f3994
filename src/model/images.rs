//! What `GET /v1/images` answers: what a new canary could run, and what a
//! deploy would start, so a client can complete the image and say the
//! exact effect of deploying it before asking.

use serde::{Deserialize, Serialize};

/// Candidates for `deploy --canary`, in the form the deploy takes them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCandidates {
    /// What the runtime has at hand, best first: docker the engine's local
    /// image tags (the stable image's repository first, newest first); a
    /// plan that deploys by version (`[deploy] image` or `command`) those
    /// as versions; process the versions it ran lately; static none.
    pub images: Vec<String>,
    /// Whether a deploy names a version (`1.6.0`) rather than an image.
    #[serde(default)]
    pub by_version: bool,
    /// Replicas a deploy starts (the plan's `[canary]`, else stable's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// The plan's first step, per mille (`None`: no steps, the weight
    /// stays at 0 % until someone moves it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_step_permille: Option<u16>,
}
