//! Command-line arguments of `confine` (clap derive).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub const AFTER_HELP: &str = "\
IMAGE references:
  docker-daemon:NAME[:TAG]   an image in the local Docker engine (DOCKER_HOST honoured)
  NAME[:TAG]                 the same, when no file of that name exists
  docker-archive:PATH        a `docker save` tarball (legacy or OCI layout)
  oci:PATH                   an OCI image layout folder
  oci-archive:PATH           a tar of an OCI image layout
  rootfs:PATH                a plain root-filesystem folder
  PATH                       an existing file or folder, detected

Exit codes:
  0    success
  1    error: unreadable or hostile image, a limit exceeded, an I/O error
       (full disk, read-only output folder), an error reply of the engine
  2    usage error
  3    verify: a syscall was denied; profile/analyze/batch: a program fell
       back to a wildcard (Docker's default set)
  4    verify: the container failed with no syscall denied (did not start,
       exited at once with a non-zero status, a --check never passed)
  5    the Docker engine cannot be reached or stopped answering (no socket,
       connection closed mid-reply, malformed reply, timeout)
  124  --time-limit reached (the stage is named; containers removed)
  130  interrupted by Ctrl-C (SIGINT); containers and temporary files removed
  143  terminated by SIGTERM; the same cleanup
";

#[derive(Parser, Debug)]
#[command(
    name = "confine",
    version,
    about = "The tightest seccomp profile a container image can run under, by binary analysis",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// No progress or summaries on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Stop after this many seconds of wall time (exit code 124, naming the
    /// stage), removing any container started; 0 for no limit.
    #[arg(long, global = true, default_value_t = 3600, value_name = "SECS")]
    pub time_limit: u64,
    /// Raise (or lower) a resource limit, e.g. `--limit max_image_bytes=64G`
    /// (repeatable; suffixes K, M, G, T are powers of 1024). `--limit help`
    /// lists every limit and its default.
    #[arg(long = "limit", global = true, value_name = "NAME=VALUE")]
    pub limits: Vec<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once; boxing buys nothing
pub enum Command {
    /// Analyse IMAGE and write its seccomp profile.
    Profile(ProfileArgs),
    /// List every program and shared object that can run in IMAGE, and why.
    Inspect(InspectArgs),
    /// Print the syscalls that PROGRAMs (with their libraries under --root) can make.
    Analyze(AnalyzeArgs),
    /// Say why SYSCALL is allowed by a profile (or by IMAGE's analysis).
    Explain(ExplainArgs),
    /// Compare two profiles (a path, or `docker-default`).
    Diff(DiffArgs),
    /// Run IMAGE under a profile with checks and report denied syscalls.
    Verify(VerifyArgs),
    /// Measure the syscalls the local container runtime needs after it installs the filter.
    Calibrate(CalibrateArgs),
    /// Profile many images listed in a file (one reference a line), sharing the summary cache.
    Batch(BatchArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ImageArgs {
    /// The image to read (see IMAGE references below).
    pub image: String,
    /// Replace the image's entrypoint (as `docker run --entrypoint`; a single path).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Replace the image's cmd (repeat for several arguments).
    #[arg(long, num_args = 1..)]
    pub cmd: Option<Vec<String>>,
    /// Add or replace an environment variable (KEY=VAL).
    #[arg(long = "env", short = 'e')]
    pub env: Vec<String>,
    /// Run as this user (as `docker run --user`).
    #[arg(long)]
    pub user: Option<String>,
    /// A program (path in the image) known to run; repeatable.
    #[arg(long = "binary")]
    pub binaries: Vec<String>,
    /// Take every ELF executable in the image as a program that can run.
    #[arg(long)]
    pub all_binaries: bool,
    /// Platform to pick from a multi-platform index (os/arch, e.g. linux/arm64).
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Print JSON instead of a tree.
    #[arg(long)]
    pub json: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Docker,
    Oci,
    Kubernetes,
    Systemd,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum DenyErrno {
    Enosys,
    Eperm,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum DenyAction {
    Errno,
    Kill,
    KillProcess,
    Log,
    Trap,
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Output file (written atomically); `-` for stdout.
    #[arg(long, short, default_value = "-")]
    pub output: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Docker)]
    pub format: Format,
    /// Errno returned for denied syscalls when the deny action is errno.
    #[arg(long, value_enum, default_value_t = DenyErrno::Enosys)]
    pub deny_errno: DenyErrno,
    /// What happens on a denied syscall.
    #[arg(long, value_enum, default_value_t = DenyAction::Errno)]
    pub deny_action: DenyAction,
    /// Allow syscalls that Docker's default profile blocks or restricts, when analysis needs them.
    #[arg(long)]
    pub beyond_docker_default: bool,
    /// Print a JSON summary (syscalls, reasons, diagnostics) on stdout instead of text on stderr.
    #[arg(long)]
    pub json: bool,
    /// Do not read or write the per-object summary cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Summary cache folder (default: $XDG_CACHE_HOME/confine or ~/.cache/confine).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Name used in the Kubernetes manifest.
    #[arg(long, default_value = "confine-profile")]
    pub k8s_name: String,
    /// Also write a report (Markdown, or HTML when FILE ends in .html).
    #[arg(long)]
    pub report: Option<String>,
    #[command(flatten)]
    pub trace: crate::observe::TraceArgs,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Root folder the programs and their libraries are loaded from.
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// Program paths (inside --root).
    #[arg(required = true)]
    pub programs: Vec<String>,
    /// JSON with witness chains and diagnostics.
    #[arg(long)]
    pub json: bool,
    /// Analyse each file alone as one object (no loader, no reachability) and
    /// print its summary: functions, syscall sites, numbers found.
    #[arg(long)]
    pub object: bool,
    /// Do not read or write the per-object summary cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Summary cache folder.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A profile written by `confine profile`, or an IMAGE reference.
    pub target: String,
    /// The syscall to explain.
    pub syscall: String,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// First profile (path or `docker-default`).
    pub a: String,
    /// Second profile (path or `docker-default`).
    pub b: String,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Image in the local Docker engine.
    pub image: String,
    /// Profile to run under.
    #[arg(long)]
    pub profile: PathBuf,
    /// Host shell command to run while the container runs; `{ip}` is the container's address.
    #[arg(long = "check")]
    pub checks: Vec<String>,
    /// Seconds to keep the container running.
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    #[command(flatten)]
    pub run: crate::observe::RunArgs,
}

#[derive(Args, Debug)]
pub struct BatchArgs {
    /// File with one IMAGE reference a line (`#` comments and blank lines ignored).
    pub list: PathBuf,
    /// Folder for the profiles (one `NAME.json` per image, names made filesystem-safe).
    #[arg(long, short = 'd', default_value = "out/batch")]
    pub out_dir: PathBuf,
    /// Run an observed run for engine images (off by default in batch mode).
    #[arg(long)]
    pub trace: bool,
    /// Summary cache folder.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Print the summary table as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

impl ProfileArgs {
    /// Default profile options for IMAGE (used by `explain IMAGE`).
    pub fn for_image(image: &str) -> ProfileArgs {
        ProfileArgs {
            image: ImageArgs {
                image: image.to_string(),
                entrypoint: None,
                cmd: None,
                env: Vec::new(),
                user: None,
                binaries: Vec::new(),
                all_binaries: false,
                platform: None,
            },
            output: "-".into(),
            format: Format::Docker,
            deny_errno: DenyErrno::Enosys,
            deny_action: DenyAction::Errno,
            beyond_docker_default: false,
            json: false,
            no_cache: false,
            cache_dir: None,
            k8s_name: "confine-profile".into(),
            report: None,
            trace: crate::observe::TraceArgs::off(),
        }
    }
}
