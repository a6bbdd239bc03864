//! `switchboard analyze ID [--questions FILE] [--dry-run]`: the command line of
//! [`crate::analysis::run`]. It reads the question set, prints what the run would ask and cost
//! before anything is spent, and (unless `--dry-run`) runs it with a progress bar on a terminal.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use clap::Args;

use super::Failure;
use crate::analysis::run::{self, LimitSource, RunPlan};
use crate::analysis::{AnalysisConfig, QuestionSet, StepReport};
use crate::campaigns;
use crate::config::{AnalysisSpec, DaemonConfig};
use crate::store::Store;

pub(super) const LONG_ABOUT: &str = "\
Asks AI questions about a campaign's finished calls answered by a person, with Bland's
POST /v1/calls/{id}/analyze, and stores the answers and the price Bland returns (the report
and the export read them).

The questions are the campaign's [analysis] goal and questions, or those of --questions FILE:
a TOML file of the same shape (goal = \"…\", questions = [[\"Will they renew?\", \"boolean\"], …],
optionally max_spend_usd = 20). The daemon already asks the campaign's own questions about
each human call as it ends; this command asks them later, or asks new ones.

Before anything is spent it prints how many calls will be asked and the estimated cost (the
mean price of this campaign's analyses so far, else Bland's documented rate of about $0.0045
a call); --dry-run stops there. A call already answered with the same questions is never asked
again — by this command, another run or the daemon — and calls that failed before are asked
once more. The spend limit (max_spend_usd of the file, else of the campaign's [analysis])
caps what all of the campaign's analyses cost together: when it is reached, the calls left
are marked failed with the reason instead of being asked.

Needs the Bland API key in BLAND_API_KEY (or [bland] api_key_file), never on the command
line; --dry-run needs none. Requests are paced at [analysis] request_share of [bland]
requests_per_minute.";

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The campaign whose calls to analyse
    pub id: String,
    /// Ask these questions instead of the campaign's [analysis] (TOML: goal, questions,
    /// optional max_spend_usd)
    #[arg(long, value_name = "FILE")]
    pub questions: Option<PathBuf>,
    /// Print the number of calls and the estimated cost, and ask nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// The question set and its spend limit, from the file or the campaign.
fn questions(
    args: &AnalyzeArgs,
    campaign: Option<&AnalysisSpec>,
) -> Result<(AnalysisSpec, Option<f64>, LimitSource), Failure> {
    let from_campaign = campaign.and_then(|a| a.max_spend_usd);
    let Some(path) = &args.questions else {
        let Some(spec) = campaign.filter(|a| a.asks()) else {
            return Err(Failure::input(anyhow::anyhow!(
                "campaign `{}` has no [analysis] questions: give some with --questions FILE \
                 (goal = \"…\" and questions = [[\"Will they renew?\", \"boolean\"]])",
                args.id
            )));
        };
        let source = if from_campaign.is_some() { LimitSource::Campaign } else { LimitSource::None };
        return Ok((spec.clone(), from_campaign, source));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(anyhow::anyhow!("{}: cannot read the questions file: {e}", path.display())))?;
    let spec = AnalysisSpec::parse_file(&path.display().to_string(), &text)?;
    let (limit, source) = match (spec.max_spend_usd, from_campaign) {
        (Some(l), _) => (Some(l), LimitSource::QuestionsFile),
        (None, Some(l)) => (Some(l), LimitSource::Campaign),
        (None, None) => (None, LimitSource::None),
    };
    Ok((spec, limit, source))
}

fn print_plan(plan: &RunPlan) {
    let b = &plan.backlog;
    let set = plan.set.key().get(..12).unwrap_or_default();
    println!(
        "campaign `{}`: {} call(s) answered by a person; {} already analysed with these {} question(s) (set {set})",
        plan.campaign_id,
        b.human_calls,
        b.done,
        plan.set.questions().len()
    );
    let basis = if plan.estimate_is_measured() {
        format!("the mean price of this campaign's {} priced analyses", plan.spend.priced)
    } else {
        "Bland's documented rate: none of this campaign's analyses is priced yet".to_string()
    };
    println!(
        "to analyse: {} call(s), estimated cost ${:.4} (${:.4} per call, {basis})",
        plan.to_analyse(),
        plan.estimated_cost_usd(),
        plan.estimate_usd
    );
    match (plan.max_spend_usd, plan.affordable()) {
        (Some(limit), Some(room)) => {
            let whose = match plan.limit_source {
                LimitSource::QuestionsFile => "of the questions file",
                _ => "of the campaign's [analysis]",
            };
            println!(
                "spend limit: ${:.4} spent of max_spend_usd ${limit:.4} ({whose}); room for about {room} call(s)",
                plan.spend.spent_usd
            );
            if room < plan.to_analyse() {
                eprintln!(
                    "warning: the spend limit leaves room for about {room} of the {} call(s); the rest will be marked \
                     failed (spend limit reached), not asked",
                    plan.to_analyse()
                );
            }
        }
        _ => println!(
            "spend limit: none (neither the campaign's [analysis] nor the questions file sets max_spend_usd); ${:.4} \
             spent on this campaign's analyses so far",
            plan.spend.spent_usd
        ),
    }
}

pub(super) async fn analyze(args: AnalyzeArgs, config: &DaemonConfig, store: &Store) -> Result<(), Failure> {
    let now = Utc::now();
    let campaign = campaigns::stored_spec(store, config, &args.id).await?;
    let (spec, limit, source) = questions(&args, campaign.analysis.as_ref())?;
    let set = QuestionSet::of(&spec).expect("a question set with questions");
    // The key is checked before anything is printed as about to happen.
    let bland = if args.dry_run { None } else { Some(bland_client(config)?) };
    let plan = run::plan(store, &args.id, set, limit, source, now).await?;
    print_plan(&plan);
    let Some(bland) = bland else {
        println!("dry run: nothing was asked and nothing spent");
        return Ok(());
    };
    if plan.to_analyse() == 0 {
        println!("nothing to analyse");
        return Ok(());
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: requests in flight finish; the rest stay queued for the daemon or the next run");
            let _ = stop.send(true);
        }
    });
    let bar = crate::progress::bar(
        u64::try_from(plan.to_analyse()).unwrap_or(0),
        "{bar:30} {pos}/{len} calls {msg} eta {eta}",
    );
    let show = |r: &StepReport| {
        if let Some(bar) = &bar {
            bar.set_position(u64::from(r.answered + r.failed + r.stopped));
            bar.set_message(format!("({} failed)", r.failed + r.stopped));
        }
    };
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let cfg = AnalysisConfig::from_daemon(config);
    let outcome = run::run(store, bland, clock, cfg, &plan, stopped, show).await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let s = outcome.steps;
    println!(
        "analysed {} call(s); {} failed ({} for the spend limit); spent ${:.4} (campaign total ${:.4})",
        s.answered,
        s.failed + s.stopped,
        s.stopped,
        (outcome.spent_usd - outcome.spent_before_usd).max(0.0),
        outcome.spent_usd
    );
    if outcome.backlog.pending > 0 {
        eprintln!(
            "warning: {} call(s) are still queued (stopped, or waiting to be asked again); the daemon or the next run \
             asks them",
            outcome.backlog.pending
        );
    }
    Ok(())
}

/// The analysis client: the key from the environment or the key file, no retries of its own
/// (the worker asks again on its schedule) and no limiter but the worker's share.
fn bland_client(config: &DaemonConfig) -> Result<crate::bland::Client, Failure> {
    let env = |v: &str| std::env::var(v).ok();
    let key = config.api_key(env)?.ok_or_else(|| {
        Failure::input(anyhow::anyhow!(
            "analyze needs the Bland API key: set BLAND_API_KEY or [bland] api_key_file (--dry-run needs none)"
        ))
    })?;
    let mut c = crate::bland::BlandClientConfig::new(config.bland.base_url.clone(), key);
    c.encrypted_key = config.encrypted_key(env)?;
    c.connect_timeout = config.bland.connect_timeout.to_std().unwrap_or_default();
    c.request_timeout = config.bland.request_timeout.to_std().unwrap_or_default();
    c.retry = crate::bland::RetryPolicy::none();
    Ok(crate::bland::Client::new(c).context("building the Bland client")?)
}
