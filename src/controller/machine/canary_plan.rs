//! The canary a deploy asks for: the plan's `[canary]`, or the version a
//! caller named, turned into what each runtime runs (an image, the plan's
//! command template, a list of upstreams), refused before anything starts
//! when it is not allowed or not well formed.

use super::*;

impl Transition<'_> {
    /// The canary version to deploy: the plan's `[canary]`, with `image`
    /// (an image, a command line or a comma-separated upstream list,
    /// depending on the runtime) in place of what it runs.
    pub(super) fn canary_plan(&self, image: &str) -> Result<VersionPlan, Refusal> {
        let mut v = match (&self.plan.canary, image.is_empty()) {
            (Some(c), true) => {
                let mut c = c.clone();
                c.version = Some(version_label(&c, "canary"));
                return Ok(c);
            }
            (None, true) => {
                return Err(refuse(
                    codes::NO_CANARY_SPEC,
                    "cannot deploy: no image given and the plan has no [canary]; pass one (cutover deploy --canary IMAGE)".into(),
                ));
            }
            (Some(c), false) => c.clone(),
            (None, false) => VersionPlan {
                version: None,
                image: None,
                command: None,
                upstreams: Vec::new(),
                ..self.st.stable.clone()
            },
        };
        v.version = None;
        // A new image is resolved by its own pull, never by stable's pin.
        v.pinned = None;
        match self.plan.runtime {
            RuntimeKind::Docker | RuntimeKind::Swarm => self.runs_image(&mut v, image)?,
            RuntimeKind::Process => self.runs_command(&mut v, image)?,
            RuntimeKind::Static => runs_upstreams(&mut v, image)?,
        }
        if v.version.is_none() {
            v.version = Some(version_label(&v, "canary"));
        }
        Ok(v)
    }

    /// Docker and Swarm: `image` is the reference itself, or the version
    /// that fills the plan's `[deploy] image` template.
    fn runs_image(&self, v: &mut VersionPlan, image: &str) -> Result<(), Refusal> {
        v.image = Some(match &self.plan.deploy.image {
            None => {
                // Refused here, before anything starts: the engine would
                // only say "invalid reference format" after the fact.
                if let Err(why) = crate::plan::image_reference(image) {
                    return Err(refuse(
                        codes::INVALID_VALUE,
                        format!(
                            "cannot deploy: {image:?} is not a Docker image reference ({why}); expected e.g. \"registry:5000/team/shop:1.5.0\""
                        ),
                    ));
                }
                image.to_string()
            }
            Some(template) => {
                let version = deploy_version(image, "deploy.image", template)?;
                let filled = template.replace(DeployPlan::VERSION, version);
                crate::plan::image_reference(&filled).map_err(|why| {
                    refuse(
                        codes::NOT_ALLOWED,
                        format!(
                            "cannot deploy {image:?}: {filled:?} is not an image reference ({why})"
                        ),
                    )
                })?;
                v.version = Some(version.to_string());
                filled
            }
        });
        v.command = None;
        v.upstreams.clear();
        Ok(())
    }

    /// Process: a command line from the API would run anything as the
    /// daemon's user, so only the plan's template, filled with a plain
    /// version.
    fn runs_command(&self, v: &mut VersionPlan, image: &str) -> Result<(), Refusal> {
        let Some(template) = &self.plan.deploy.command else {
            return Err(refuse(
                codes::NOT_ALLOWED,
                format!(
                    "cannot deploy {image:?}: this plan's process runtime deploys only its own [canary] (`cutover deploy` without --canary); to deploy versions by name, give the plan a template: [deploy] command = [\"./releases/{{version}}/shop\", \"--port\", \"{{port}}\"]"
                ),
            ));
        };
        let shown = template.join(" ");
        let version = deploy_version(image, "deploy.command", &shown)?;
        v.command = Some(
            template
                .iter()
                .map(|a| a.replace(DeployPlan::VERSION, version))
                .collect(),
        );
        v.version = Some(version.to_string());
        v.image = None;
        v.upstreams.clear();
        Ok(())
    }
}

/// The version a caller named for a deploy template (`key` names it in the
/// plan, `template` is what it fills): a plain token, or a refusal that
/// says what the plan allows.
fn deploy_version<'a>(given: &'a str, key: &str, template: &str) -> Result<&'a str, Refusal> {
    DeployPlan::check_version(given).map_err(|why| {
        refuse(
            codes::NOT_ALLOWED,
            format!(
                "cannot deploy {given:?}: the plan deploys versions by name through its {key} `{template}`, and {why}; name a version such as 1.5.0 or v2-rc.1"
            ),
        )
    })?;
    Ok(given)
}

/// Static: `image` is a comma-separated list of upstream `host:port`s, one
/// replica each.
fn runs_upstreams(v: &mut VersionPlan, image: &str) -> Result<(), Refusal> {
    v.upstreams = image
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if v.upstreams.is_empty() {
        return Err(refuse(
            codes::BAD_REQUEST,
            format!("cannot deploy: {image:?} lists no upstream host:port"),
        ));
    }
    v.replicas = v.upstreams.len() as u32;
    v.image = None;
    v.command = None;
    Ok(())
}
