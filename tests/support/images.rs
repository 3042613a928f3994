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

/// [`demo_images`] for a test without a runtime of its own, such as one
/// that runs `cutover demo` as a child: the child then finds the images of
/// this binary and builds nothing, so no build of the same tags runs
/// outside the suite's turn.
pub fn demo_images_blocking() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let docker = cutover::runtime::docker::DockerRuntime::connect()
            .await
            .expect("the Docker engine `docker info` reached");
        demo_images(docker.client()).await;
    });
}
