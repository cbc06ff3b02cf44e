//! Links and their per-direction parameters.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use sim::{Jitter, LinkParams, LossModel, QueueLimit, SimDuration};

use crate::units::{Dur, Prob, Rate};

/// A link between two nodes: `name`, `a`, `b`, the [`DirSpec`] keys at the top level
/// (both directions), and `reverse`, a table of [`DirSpec`] keys overriding some of them for
/// the `b`-to-`a` direction.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LinkSpec {
    /// Unique link name; defaults to `"<a>-<b>"`.
    pub name: Option<String>,
    /// One end.
    pub a: String,
    /// The other end.
    pub b: String,
    /// Parameters of both directions (unless `reverse` overrides).
    #[serde(flatten)]
    pub params: DirSpec,
    /// Overrides for the `b`-to-`a` direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverse: Option<DirSpec>,
}

impl<'de> Deserialize<'de> for LinkSpec {
    /// `serde(flatten)` cannot be combined with `deny_unknown_fields`, so the link's own keys
    /// are taken out first and the rest must be exactly the [`DirSpec`] keys.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut t = toml::Table::deserialize(d)?;
        let mut string = |key: &str| match t.remove(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(de::Error::custom(format!(
                "{key}: expected a string, got {other}"
            ))),
        };
        let name = string("name")?;
        let a = string("a")?.ok_or_else(|| de::Error::missing_field("a"))?;
        let b = string("b")?.ok_or_else(|| de::Error::missing_field("b"))?;
        let reverse = t
            .remove("reverse")
            .map(|v| {
                v.try_into().map_err(|e: toml::de::Error| {
                    de::Error::custom(format!("reverse: {}", e.message()))
                })
            })
            .transpose()?;
        let params = toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| {
                de::Error::custom(format!(
                    "{} (a link also takes name, a, b and reverse)",
                    e.message()
                ))
            })?;
        Ok(Self {
            name,
            a,
            b,
            params,
            reverse,
        })
    }
}

/// The parameters of one link direction; everything optional.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    /// Propagation delay (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Dur>,
    /// Transmission rate (default: infinitely fast).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// Standard deviation of a normal jitter added to the delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Dur>,
    /// With jitter, never reorder packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_preserve_order: Option<bool>,
    /// Drop-tail queue limit in packets (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_packets: Option<u32>,
    /// Drop-tail queue limit in bytes (instead of packets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_bytes: Option<u64>,
    /// Independent (Bernoulli) loss probability per packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Prob>,
    /// Gilbert–Elliott burst loss (instead of `loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gilbert: Option<GilbertSpec>,
    /// Largest IP packet carried, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

/// Gilbert–Elliott parameters, per packet.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GilbertSpec {
    /// Probability of moving from good to bad.
    pub good_to_bad: Prob,
    /// Probability of moving from bad to good (1 / mean burst length).
    pub bad_to_good: Prob,
    /// Loss probability in the good state (default 0).
    #[serde(default = "prob_zero")]
    pub loss_good: Prob,
    /// Loss probability in the bad state (default 1).
    #[serde(default = "prob_one")]
    pub loss_bad: Prob,
}

fn prob_zero() -> Prob {
    Prob(sim::Ratio::ZERO)
}
fn prob_one() -> Prob {
    Prob(sim::Ratio::ONE)
}

/// Default queue limit, as an ns-3 point-to-point device queue.
const DEFAULT_QUEUE_PACKETS: u32 = 100;

impl DirSpec {
    /// `self` with every field that `over` sets replaced.
    fn overridden_by(&self, over: &Self) -> Self {
        macro_rules! pick {
            ($($f:ident),*) => { Self { $($f: over.$f.or(self.$f)),* } };
        }
        pick!(
            delay,
            rate,
            jitter,
            jitter_preserve_order,
            queue_packets,
            queue_bytes,
            loss,
            gilbert,
            mtu
        )
    }

    /// The engine parameters, or what is contradictory.
    pub fn to_params(&self) -> Result<LinkParams, String> {
        let queue = match (self.queue_packets, self.queue_bytes) {
            (Some(_), Some(_)) => return Err("set queue_packets or queue_bytes, not both".into()),
            (Some(n), None) => QueueLimit::Packets(n),
            (None, Some(b)) => QueueLimit::Bytes(b),
            (None, None) => QueueLimit::Packets(DEFAULT_QUEUE_PACKETS),
        };
        let loss = match (self.loss, self.gilbert) {
            (Some(_), Some(_)) => return Err("set loss or gilbert, not both".into()),
            (Some(p), None) => LossModel::Bernoulli(p.0),
            (None, Some(g)) => LossModel::GilbertElliott {
                good_to_bad: g.good_to_bad.0,
                bad_to_good: g.bad_to_good.0,
                loss_good: g.loss_good.0,
                loss_bad: g.loss_bad.0,
            },
            (None, None) => LossModel::None,
        };
        if self.mtu.is_some_and(|m| m < 68) {
            return Err("mtu must be at least 68 bytes (RFC 791)".into());
        }
        Ok(LinkParams {
            delay: self.delay.map_or(SimDuration::ZERO, |d| d.0),
            rate_bps: self.rate.map_or(0, |r| r.0),
            jitter: self.jitter.map(|sd| Jitter {
                sd: sd.0,
                preserve_order: self.jitter_preserve_order.unwrap_or(false),
            }),
            queue,
            loss,
            mtu: self.mtu,
        })
    }
}

impl LinkSpec {
    /// The link's name: `name`, or `"<a>-<b>"`.
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.a, self.b))
    }

    /// Parameters of the `a`-to-`b` and `b`-to-`a` directions.
    pub fn dir_params(&self) -> Result<(LinkParams, LinkParams), String> {
        let forward = self.params.to_params()?;
        let reverse = match &self.reverse {
            Some(over) => self.params.overridden_by(over).to_params()?,
            None => forward.clone(),
        };
        Ok((forward, reverse))
    }
}
