//! Image builds in this test process take turns. The engine's legacy
//! builder, with an image store on fuse-overlayfs, was seen to fail a build
//! ("failed to get digest … no such file or directory") while another test
//! removed an image and pruned its parents at the same moment; operators do
//! not rebuild and prune in parallel, the suite should not either.

use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

static TURN: Mutex<()> = Mutex::const_new(());

/// Hold this while building or removing images.
pub async fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().await
}

/// `cutover-demo:v1` and `:v2` from the binary under test, built unless
/// images of this very binary exist; how long it took.
pub async fn demo_images(docker: &bollard::Docker) -> Duration {
    let _turn = turn().await;
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_cutover"));
    cutover::runtime::image::build_demo_images(docker, exe, "cutover-demo")
        .await
        .expect("the demo images build")
}
