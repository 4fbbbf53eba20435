//! Inboxes and their channels.

use serde::{Deserialize, Serialize};

use crate::attachment::BlobRef;

use crate::validate::name_length;
use crate::{Aggregate, DomainError, Event};

/// The channel behind an inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Channel {
    /// The website live-chat widget (`Channel::WebWidget`).
    WebWidget {
        /// The site the widget runs on.
        website_url: String,
        /// Widget colour, `#009CE0` by default.
        widget_color: String,
        /// Widget header title.
        welcome_title: Option<String>,
        /// Widget header tagline.
        welcome_tagline: Option<String>,
        /// Expected reply time shown in the widget.
        reply_time: String,
        /// Public token embedded in the widget script.
        website_token: String,
        /// Secret for verifying contact identities.
        hmac_token: String,
    },
    /// The API channel (`Channel::Api`): messages come and go over the API.
    Api {
        /// Where outgoing messages are posted, if anywhere.
        webhook_url: Option<String>,
        /// Secret for verifying contact identities.
        hmac_token: String,
    },
}

impl Channel {
    /// Chatwoot's class name of the channel, as `channel_type` shows it.
    pub fn channel_type(&self) -> &'static str {
        match self {
            Channel::WebWidget { .. } => "Channel::WebWidget",
            Channel::Api { .. } => "Channel::Api",
        }
    }
}

/// The channel fields a client may send; which apply depends on the type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelChanges {
    /// Web widget: site URL.
    pub website_url: Option<String>,
    /// Web widget: colour.
    pub widget_color: Option<String>,
    /// Web widget: title.
    pub welcome_title: Option<Option<String>>,
    /// Web widget: tagline.
    pub welcome_tagline: Option<Option<String>>,
    /// Web widget: reply time (`in_a_few_minutes`, `in_a_few_hours`, `in_a_day`).
    pub reply_time: Option<String>,
    /// API: webhook URL.
    pub webhook_url: Option<Option<String>>,
}

/// Which channel to create, with the secrets the caller generated for it.
#[derive(Debug, Clone, PartialEq)]
pub enum NewChannel {
    /// A web widget.
    WebWidget {
        /// Generated public token.
        website_token: String,
        /// Generated secret.
        hmac_token: String,
    },
    /// An API channel.
    Api {
        /// Generated secret.
        hmac_token: String,
    },
}

/// One day's opening hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkingHour {
    /// 0 = Sunday.
    pub day_of_week: u8,
    /// Closed all day.
    pub closed_all_day: bool,
    /// Opening hour.
    pub open_hour: Option<u8>,
    /// Opening minutes.
    pub open_minutes: Option<u8>,
    /// Closing hour.
    pub close_hour: Option<u8>,
    /// Closing minutes.
    pub close_minutes: Option<u8>,
    /// Open all day.
    #[serde(default)]
    pub open_all_day: bool,
}

/// An inbox's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxSettings {
    /// Name shown to agents.
    pub name: String,
    /// Send a greeting on new conversations.
    pub greeting_enabled: bool,
    /// The greeting.
    pub greeting_message: Option<String>,
    /// Round-robin new conversations to members.
    pub enable_auto_assignment: bool,
    /// Honour working hours.
    pub working_hours_enabled: bool,
    /// Message outside working hours.
    pub out_of_office_message: Option<String>,
    /// IANA time zone of the working hours.
    pub timezone: String,
    /// Opening hours, a week.
    pub working_hours: Vec<WorkingHour>,
}

/// Inbox settings a client may send; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InboxChanges {
    /// Name.
    pub name: Option<String>,
    /// Greeting on/off.
    pub greeting_enabled: Option<bool>,
    /// Greeting text.
    pub greeting_message: Option<Option<String>>,
    /// Auto-assignment on/off.
    pub enable_auto_assignment: Option<bool>,
    /// Working hours on/off.
    pub working_hours_enabled: Option<bool>,
    /// Out-of-office text.
    pub out_of_office_message: Option<Option<String>>,
    /// Time zone.
    pub timezone: Option<String>,
    /// Opening hours.
    pub working_hours: Option<Vec<WorkingHour>>,
}

/// An inbox as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inbox {
    /// `(inbox id, account id)` once created.
    pub ids: Option<(i64, i64)>,
    /// The channel.
    pub channel: Option<Channel>,
    /// The settings.
    pub settings: Option<InboxSettings>,
    /// The avatar's bytes, if one is set.
    pub avatar: Option<BlobRef>,
}

/// What may be asked of an inbox.
#[derive(Debug, Clone, PartialEq)]
pub enum InboxCommand {
    /// Create the inbox and its channel.
    Create {
        /// New inbox id.
        inbox_id: i64,
        /// Owning account.
        account_id: i64,
        /// New channel id.
        channel_id: i64,
        /// Channel kind and its generated secrets.
        channel: NewChannel,
        /// Channel fields sent by the client.
        channel_changes: ChannelChanges,
        /// Settings sent by the client; `name` is required.
        changes: InboxChanges,
    },
    /// Change settings and, for web widgets, channel fields.
    Update {
        /// Settings changes.
        changes: InboxChanges,
        /// Channel changes.
        channel_changes: ChannelChanges,
    },
    // ---- attachments and avatars ----
    /// Set (or with `None` remove) the avatar; its bytes are already stored.
    SetAvatar(Option<BlobRef>),
}

const REPLY_TIMES: [&str; 3] = ["in_a_few_minutes", "in_a_few_hours", "in_a_day"];

fn default_working_hours() -> Vec<WorkingHour> {
    (0..7)
        .map(|day| {
            let weekend = day == 0 || day == 6;
            WorkingHour {
                day_of_week: day,
                closed_all_day: weekend,
                open_hour: (!weekend).then_some(9),
                open_minutes: (!weekend).then_some(0),
                close_hour: (!weekend).then_some(17),
                close_minutes: (!weekend).then_some(0),
                open_all_day: false,
            }
        })
        .collect()
}

fn apply_settings(
    current: Option<&InboxSettings>,
    c: &InboxChanges,
) -> Result<InboxSettings, DomainError> {
    let mut s = current.cloned().unwrap_or_else(|| InboxSettings {
        name: String::new(),
        greeting_enabled: false,
        greeting_message: None,
        enable_auto_assignment: true,
        working_hours_enabled: false,
        out_of_office_message: None,
        timezone: "UTC".into(),
        working_hours: default_working_hours(),
    });
    if let Some(v) = &c.name {
        s.name = v.trim().to_owned();
    }
    if let Some(v) = c.greeting_enabled {
        s.greeting_enabled = v;
    }
    if let Some(v) = &c.greeting_message {
        s.greeting_message = v.clone();
    }
    if let Some(v) = c.enable_auto_assignment {
        s.enable_auto_assignment = v;
    }
    if let Some(v) = c.working_hours_enabled {
        s.working_hours_enabled = v;
    }
    if let Some(v) = &c.out_of_office_message {
        s.out_of_office_message = v.clone();
    }
    if let Some(v) = &c.timezone {
        s.timezone = v.clone();
    }
    if let Some(hours) = &c.working_hours {
        for h in hours {
            if h.day_of_week > 6
                || h.open_hour.is_some_and(|x| x > 23)
                || h.close_hour.is_some_and(|x| x > 23)
                || h.open_minutes.is_some_and(|x| x > 59)
                || h.close_minutes.is_some_and(|x| x > 59)
            {
                return Err(DomainError::invalid(
                    "working_hours",
                    "Working hours are invalid",
                ));
            }
            match s
                .working_hours
                .iter_mut()
                .find(|w| w.day_of_week == h.day_of_week)
            {
                Some(w) => *w = h.clone(),
                None => s.working_hours.push(h.clone()),
            }
        }
    }
    if s.name.is_empty() {
        return Err(DomainError::invalid("name", "Name can't be blank"));
    }
    name_length(&s.name)?;
    Ok(s)
}

fn apply_channel(channel: Channel, c: &ChannelChanges) -> Result<Channel, DomainError> {
    Ok(match channel {
        Channel::WebWidget {
            mut website_url,
            mut widget_color,
            mut welcome_title,
            mut welcome_tagline,
            mut reply_time,
            website_token,
            hmac_token,
        } => {
            if let Some(v) = &c.website_url {
                website_url = v.trim().to_owned();
            }
            if let Some(v) = &c.widget_color {
                widget_color = v.clone();
            }
            if let Some(v) = &c.welcome_title {
                welcome_title = v.clone();
            }
            if let Some(v) = &c.welcome_tagline {
                welcome_tagline = v.clone();
            }
            if let Some(v) = &c.reply_time {
                if !REPLY_TIMES.contains(&v.as_str()) {
                    return Err(DomainError::invalid(
                        "reply_time",
                        format!("Reply time '{v}' is not a valid reply_time"),
                    ));
                }
                reply_time = v.clone();
            }
            if website_url.is_empty() {
                return Err(DomainError::invalid(
                    "website_url",
                    "Website url can't be blank",
                ));
            }
            Channel::WebWidget {
                website_url,
                widget_color,
                welcome_title,
                welcome_tagline,
                reply_time,
                website_token,
                hmac_token,
            }
        }
        Channel::Api {
            mut webhook_url,
            hmac_token,
        } => {
            if let Some(v) = &c.webhook_url {
                webhook_url = v.clone().filter(|u| !u.trim().is_empty());
            }
            Channel::Api {
                webhook_url,
                hmac_token,
            }
        }
    })
}

impl Aggregate for Inbox {
    type Command = InboxCommand;

    fn evolve(mut self, event: &Event) -> Self {
        match event {
            Event::InboxCreated {
                inbox_id,
                account_id,
                channel,
                settings,
                ..
            }
            | Event::InboxUpdated {
                inbox_id,
                account_id,
                channel,
                settings,
            } => {
                self.ids = Some((*inbox_id, *account_id));
                self.channel = Some(channel.clone());
                self.settings = Some(settings.clone());
            }
            // ---- attachments and avatars ----
            Event::InboxAvatarChanged { avatar, .. } => self.avatar = avatar.clone(),
            _ => {}
        }
        self
    }

    fn decide(&self, command: &InboxCommand) -> Result<Vec<Event>, DomainError> {
        match command {
            InboxCommand::Create {
                inbox_id,
                account_id,
                channel_id,
                channel,
                channel_changes,
                changes,
            } => {
                if self.ids.is_some() {
                    return Err(DomainError::Rejected("Inbox already exists".into()));
                }
                let settings = apply_settings(None, changes)?;
                let blank = match channel {
                    NewChannel::WebWidget {
                        website_token,
                        hmac_token,
                    } => Channel::WebWidget {
                        website_url: String::new(),
                        widget_color: "#009CE0".into(),
                        welcome_title: None,
                        welcome_tagline: None,
                        reply_time: "in_a_few_minutes".into(),
                        website_token: website_token.clone(),
                        hmac_token: hmac_token.clone(),
                    },
                    NewChannel::Api { hmac_token } => Channel::Api {
                        webhook_url: None,
                        hmac_token: hmac_token.clone(),
                    },
                };
                let channel = apply_channel(blank, channel_changes)?;
                Ok(vec![Event::InboxCreated {
                    inbox_id: *inbox_id,
                    account_id: *account_id,
                    channel_id: *channel_id,
                    channel,
                    settings,
                }])
            }
            InboxCommand::Update {
                changes,
                channel_changes,
            } => {
                let (Some((inbox_id, account_id)), Some(channel), Some(settings)) =
                    (self.ids, &self.channel, &self.settings)
                else {
                    return Err(DomainError::NotFound);
                };
                let next_settings = apply_settings(Some(settings), changes)?;
                // Chatwoot applies channel attributes on update to web widgets only.
                let next_channel = match channel {
                    Channel::WebWidget { .. } => apply_channel(channel.clone(), channel_changes)?,
                    Channel::Api { .. } => channel.clone(),
                };
                if next_settings == *settings && next_channel == *channel {
                    return Ok(vec![]);
                }
                Ok(vec![Event::InboxUpdated {
                    inbox_id,
                    account_id,
                    channel: next_channel,
                    settings: next_settings,
                }])
            }
            // ---- attachments and avatars ----
            InboxCommand::SetAvatar(avatar) => {
                let Some((inbox_id, account_id)) = self.ids else {
                    return Err(DomainError::NotFound);
                };
                if *avatar == self.avatar {
                    return Ok(vec![]);
                }
                Ok(vec![Event::InboxAvatarChanged {
                    inbox_id,
                    account_id,
                    avatar: avatar.clone(),
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::when;

    fn create_widget(name: &str, url: &str) -> InboxCommand {
        InboxCommand::Create {
            inbox_id: 2,
            account_id: 1,
            channel_id: 5,
            channel: NewChannel::WebWidget {
                website_token: "wt".into(),
                hmac_token: "hm".into(),
            },
            channel_changes: ChannelChanges {
                website_url: Some(url.into()),
                ..Default::default()
            },
            changes: InboxChanges {
                name: Some(name.into()),
                ..Default::default()
            },
        }
    }

    fn created_widget() -> Vec<Event> {
        when::<Inbox>(&[], create_widget("Site", "test.com")).unwrap()
    }

    #[test]
    fn given_nothing_when_create_web_widget_then_inbox_created_with_defaults() {
        let events = created_widget();
        let [Event::InboxCreated {
            channel,
            settings,
            channel_id: 5,
            ..
        }] = &events[..]
        else {
            panic!("{events:?}")
        };
        assert!(
            matches!(channel, Channel::WebWidget { website_url, widget_color, .. } if website_url == "test.com" && widget_color == "#009CE0")
        );
        assert!(settings.enable_auto_assignment);
        assert_eq!(settings.working_hours.len(), 7);
    }

    #[test]
    fn given_nothing_when_create_web_widget_without_url_then_invalid() {
        assert!(matches!(
            when::<Inbox>(&[], create_widget("Site", "")),
            Err(DomainError::Invalid { .. })
        ));
    }

    #[test]
    fn given_nothing_when_create_without_name_then_name_cant_be_blank() {
        let err = when::<Inbox>(&[], create_widget(" ", "x.com")).unwrap_err();
        assert_eq!(err, DomainError::invalid("name", "Name can't be blank"));
    }

    #[test]
    fn given_nothing_when_create_api_channel_then_webhook_url_is_kept() {
        let cmd = InboxCommand::Create {
            inbox_id: 2,
            account_id: 1,
            channel_id: 1,
            channel: NewChannel::Api {
                hmac_token: "hm".into(),
            },
            channel_changes: ChannelChanges {
                webhook_url: Some(Some("http://hook".into())),
                ..Default::default()
            },
            changes: InboxChanges {
                name: Some("API".into()),
                ..Default::default()
            },
        };
        let events = when::<Inbox>(&[], cmd).unwrap();
        assert!(
            matches!(&events[0], Event::InboxCreated { channel: Channel::Api { webhook_url: Some(u), .. }, .. } if u == "http://hook")
        );
    }

    #[test]
    fn given_an_inbox_when_auto_assignment_is_turned_off_then_inbox_updated() {
        let cmd = InboxCommand::Update {
            changes: InboxChanges {
                enable_auto_assignment: Some(false),
                ..Default::default()
            },
            channel_changes: ChannelChanges::default(),
        };
        let events = when::<Inbox>(&created_widget(), cmd).unwrap();
        assert!(
            matches!(&events[0], Event::InboxUpdated { settings, .. } if !settings.enable_auto_assignment)
        );
    }

    #[test]
    fn given_an_inbox_when_working_hours_for_monday_change_then_only_monday_changes() {
        let monday = WorkingHour {
            day_of_week: 1,
            closed_all_day: false,
            open_hour: Some(8),
            open_minutes: Some(30),
            close_hour: Some(12),
            close_minutes: Some(0),
            open_all_day: false,
        };
        let cmd = InboxCommand::Update {
            changes: InboxChanges {
                working_hours: Some(vec![monday.clone()]),
                ..Default::default()
            },
            channel_changes: ChannelChanges::default(),
        };
        let events = when::<Inbox>(&created_widget(), cmd).unwrap();
        let Event::InboxUpdated { settings, .. } = &events[0] else {
            panic!()
        };
        assert_eq!(settings.working_hours[1], monday);
        assert_eq!(settings.working_hours.len(), 7);
    }

    #[test]
    fn given_an_inbox_when_nothing_changes_then_no_event() {
        let cmd = InboxCommand::Update {
            changes: InboxChanges::default(),
            channel_changes: ChannelChanges::default(),
        };
        assert!(when::<Inbox>(&created_widget(), cmd).unwrap().is_empty());
    }

    #[test]
    fn given_an_inbox_when_reply_time_is_unknown_then_invalid() {
        let cmd = InboxCommand::Update {
            changes: InboxChanges::default(),
            channel_changes: ChannelChanges {
                reply_time: Some("someday".into()),
                ..Default::default()
            },
        };
        assert!(matches!(
            when::<Inbox>(&created_widget(), cmd),
            Err(DomainError::Invalid { .. })
        ));
    }

    #[test]
    fn given_nothing_when_updated_then_not_found() {
        let cmd = InboxCommand::Update {
            changes: InboxChanges::default(),
            channel_changes: ChannelChanges::default(),
        };
        assert_eq!(when::<Inbox>(&[], cmd), Err(DomainError::NotFound));
    }
}
