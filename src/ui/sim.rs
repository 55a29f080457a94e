//! The real-name services' steps (新开户, 补卡, 实名补登记) on one view: each is a title,
//! what to know, and the customer's choices, which go back to the flow as the events it
//! expects (`Confirm`, `Back`, `Select("consent")`, `Select("number:…")`, a plan id…).

use slint::{ComponentHandle, Image, ModelRc, Rgb8Pixel, SharedPixelBuffer, VecModel};

use super::generated::{Page, SimAdapter, SimChoice};
use super::{KioskWindow, Msg, Sink, Ui, app, msg, service_words, sorry};
use crate::flow::devices::FaceGuidance;
use crate::flow::screen::{IssueStep, LossAction, ReceiptState, SimOutcome};
use crate::flow::{Notice, Screen, ServiceId, yuan};
use crate::runtime::screen::Preview;

fn choice(action: &str, label: &str, text: Msg, detail: Msg) -> SimChoice {
    SimChoice {
        action: action.into(),
        label: label.into(),
        text,
        detail,
        enabled: true,
    }
}

fn yes_no(yes: Msg) -> Vec<SimChoice> {
    vec![
        choice("confirm", "yes", yes, msg("", "")),
        choice("back", "no", msg("不是", "No"), msg("", "")),
    ]
}

/// What one step shows.
#[derive(Default)]
struct Step {
    title: Option<Msg>,
    lines: Vec<Msg>,
    /// The agreement's paragraphs.
    paragraphs: Vec<Msg>,
    figure: String,
    notice: Option<Notice>,
    choices: Vec<SimChoice>,
    /// The choices carry lines of detail: fewer across.
    wide_choices: bool,
    answers: Vec<SimChoice>,
    agreement: bool,
    busy: bool,
    /// Step n of the journey, and its name.
    step: (i32, &'static str, &'static str),
    /// No leaving now (a card is being made or is at the gate).
    no_back: bool,
    /// The camera's picture in a framing guide (the live photo).
    camera: bool,
    /// The numbers can be searched by digits; the digits of the search shown.
    search: Option<String>,
}

fn guidance_words(g: FaceGuidance) -> Msg {
    let (zh, en) = match g {
        FaceGuidance::LookAtCamera => ("请正对摄像头", "Look at the camera"),
        FaceGuidance::MoveCloser => ("请靠近一点", "Come a little closer"),
        FaceGuidance::MoveBack => ("请后退一点", "Move back a little"),
        FaceGuidance::MoveLeft => ("请向左移一点", "Move a little to the left"),
        FaceGuidance::MoveRight => ("请向右移一点", "Move a little to the right"),
        FaceGuidance::MoveUp => ("请抬高一点", "Raise your face a little"),
        FaceGuidance::MoveDown => ("请放低一点", "Lower your face a little"),
        FaceGuidance::OnlyOnePerson => (
            "画面中只能有一个人",
            "Only one person in the picture, please",
        ),
        FaceGuidance::TooDark => ("光线太暗", "It is too dark"),
        FaceGuidance::TooBright => ("光线太亮", "It is too bright"),
        FaceGuidance::HoldStill => ("请保持不动", "Please hold still"),
        FaceGuidance::TurnHead => ("请缓慢向一侧转头", "Slowly turn your head to one side"),
        FaceGuidance::TurnBack => ("请转回正对摄像头", "Now turn back to the camera"),
        FaceGuidance::Done => ("拍摄完成", "Photo taken"),
    };
    msg(zh, en)
}

fn receipt_words(r: &ReceiptState) -> Msg {
    match r {
        ReceiptState::Printing => msg("正在打印业务受理回执……", "Printing your receipt…"),
        ReceiptState::Printed => msg("回执已打印，请取走", "Receipt printed; please take it"),
        ReceiptState::NotPrinted => msg(
            "回执未能打印，请记下流水号或联系工作人员",
            "The receipt could not be printed; note the reference or ask staff",
        ),
    }
}

/// The step a real-name screen shows, or `None` for a screen that is not one of theirs.
fn step(screen: &Screen) -> Option<Step> {
    let s = match screen {
        Screen::SimIntro { service, fee_fen } => {
            let (zh, en) = service_words(*service);
            let mut lines = vec![
                msg("• 本人有效的二代居民身份证", "• Your own valid ID card"),
                msg(
                    "• 拍摄一张现场照片，与身份证照片比对（需您单独同意）",
                    "• A live photo, compared with the ID card's (with your consent)",
                ),
            ];
            if *fee_fen > 0 {
                lines.push(msg(
                    &format!("• 卡费 {}，用现金支付，本机不找零", yuan(*fee_fen)),
                    &format!(
                        "• A card fee of {}, in cash; no change given",
                        yuan(*fee_fen)
                    ),
                ));
            }
            Step {
                title: Some(msg(&format!("办理{zh}需要："), &format!("{en} needs:"))),
                lines,
                answers: vec![choice(
                    "confirm",
                    "start",
                    msg("开始办理", "Start"),
                    msg("", ""),
                )],
                step: (2, "准备", "What you need"),
                ..Step::default()
            }
        }
        Screen::FaceConsent { .. } => Step {
            title: Some(msg("人脸识别单独同意", "Consent to face recognition")),
            lines: vec![
                msg(
                    "为核验是您本人办理，需要拍摄您的现场照片，与身份证照片比对。照片只用于本次实名核验，不保存在本机。",
                    "To check it is you, a live photo is taken and compared with your ID card's. It is used only for this check and not kept on the kiosk.",
                ),
                msg(
                    "您也可以不同意，到营业厅柜台由工作人员为您办理。",
                    "You may also decline and be served at the counter.",
                ),
            ],
            answers: vec![
                choice(
                    "consent",
                    "consent",
                    msg("同意并拍照", "I agree"),
                    msg("", ""),
                ),
                choice(
                    "decline",
                    "decline",
                    msg("不同意，去柜台", "No, use the counter"),
                    msg("", ""),
                ),
            ],
            step: (3, "核验身份", "Identity check"),
            ..Step::default()
        },
        Screen::FaceCapture {
            guidance,
            attempt,
            notice,
        } => Step {
            title: Some(guidance_words(*guidance)),
            lines: vec![msg(
                &format!("请摘下帽子和口罩，按提示完成拍照（第 {attempt} 次）"),
                &format!("Take off hat and mask and follow the words (try {attempt})"),
            )],
            notice: notice.clone(),
            step: (3, "核验身份", "Identity check"),
            camera: true,
            ..Step::default()
        },
        Screen::Numbers {
            numbers,
            notice,
            search,
        } => Step {
            search: Some(search.clone()),
            title: Some(if search.is_empty() {
                msg("请选择您的新号码", "Choose your new number")
            } else {
                msg(
                    &format!("请选择您的新号码（含“{search}”）"),
                    &format!("Choose your new number (with \"{search}\")"),
                )
            }),
            lines: if numbers.iter().any(|n| n.premium) {
                vec![msg(
                    "标有“靓号”的号码需搭配月费不低于所示金额的套餐。",
                    "A number marked premium needs a plan of at least the fee shown.",
                )]
            } else {
                Vec::new()
            },
            notice: notice.clone(),
            choices: numbers
                .iter()
                .map(|n| {
                    let detail = if n.premium {
                        let fee = yuan(n.min_plan_fee_fen);
                        msg(
                            &format!("靓号 · 套餐≥{fee}/月"),
                            &format!("premium · plan ≥{fee}"),
                        )
                    } else {
                        msg("", "")
                    };
                    choice(
                        &format!("number:{}", n.msisdn),
                        &format!("number {}", n.msisdn),
                        msg(&n.msisdn, &n.msisdn),
                        detail,
                    )
                })
                .collect(),
            step: (4, "选号与套餐", "Number and plan"),
            ..Step::default()
        },
        Screen::JoinPlans {
            msisdn,
            hold_s,
            plans,
            card_fee_fen,
        } => Step {
            title: Some(msg("请选择套餐", "Choose a plan")),
            lines: vec![
                msg(
                    &format!("号码 {msisdn} 已为您保留 {} 分钟。", hold_s.div_ceil(60)),
                    &format!("{msisdn} is held for you for {} min.", hold_s.div_ceil(60)),
                ),
                msg(
                    &format!(
                        "卡费 {}；首月月费如下（包月套餐 1–15 日全月、16 日起半月）。",
                        yuan(*card_fee_fen)
                    ),
                    &format!(
                        "Card fee {}; the first month as shown (packages: full month to the 15th, half from the 16th).",
                        yuan(*card_fee_fen)
                    ),
                ),
            ],
            choices: plans
                .iter()
                .map(|p| {
                    let fee = yuan(p.plan.monthly_fee_fen);
                    let first = yuan(p.first_month_fee_fen);
                    let data = super::plans::data(u64::from(p.plan.data_mb));
                    let min = p.plan.voice_min;
                    choice(
                        &p.plan.id,
                        &format!("plan {}", p.plan.id),
                        msg(&p.plan.name, &p.plan.name),
                        msg(
                            &format!("{fee}/月 · {data} · {min}分钟\n首月 {first}"),
                            &format!("{fee}/mo · {data} · {min} min\nfirst month {first}"),
                        ),
                    )
                })
                .collect(),
            wide_choices: true,
            step: (4, "选号与套餐", "Number and plan"),
            ..Step::default()
        },
        Screen::Agreement { version, .. } => {
            let lines = vec![msg(
                "请阅读到最后，再点“我已阅读并同意”。",
                "The operator's terms are in Chinese. Please read to the end, then accept.",
            )];
            let paragraphs = crate::flow::sim::AGREEMENT
                .iter()
                .map(|p| msg(p, p))
                .collect();
            Step {
                title: Some(msg(
                    &format!("入网服务协议（{version}）"),
                    &format!("Service agreement ({version})"),
                )),
                lines,
                paragraphs,
                agreement: true,
                answers: vec![choice(
                    "confirm",
                    "accept",
                    msg("我已阅读并同意", "I have read it and agree"),
                    msg("", ""),
                )],
                step: (4, "选号与套餐", "Number and plan"),
                ..Step::default()
            }
        }
        Screen::SimConfirm {
            service,
            number,
            plan_name,
            card_fee_fen,
            first_month_fee_fen,
            due_fen,
            excess_to_balance,
            hold_s,
        } => {
            let (zh, en) = service_words(*service);
            let plan = plan_name.as_deref().unwrap_or("");
            let mut lines = vec![
                msg(
                    &format!(
                        "您办理的是 {number} 的{zh}{}，是吗？",
                        if plan.is_empty() {
                            String::new()
                        } else {
                            format!("，套餐：{plan}")
                        }
                    ),
                    &format!(
                        "{en} for {number}{}. Is that right?",
                        if plan.is_empty() {
                            String::new()
                        } else {
                            format!(", plan {plan}")
                        }
                    ),
                ),
                msg(
                    &format!(
                        "卡费 {} + 首月 {}",
                        yuan(*card_fee_fen),
                        yuan(*first_month_fee_fen)
                    ),
                    &format!(
                        "Card {} + first month {}",
                        yuan(*card_fee_fen),
                        yuan(*first_month_fee_fen)
                    ),
                ),
                if *excess_to_balance {
                    msg(
                        "本机只收纸币，不找零：多放入的钱全部存入新号码的话费。",
                        "Notes only, no change: anything above goes to the new number's balance.",
                    )
                } else {
                    msg(
                        "本机只收纸币，不找零：请放入正好的金额。",
                        "Notes only, no change: please put in the exact amount.",
                    )
                },
            ];
            if let Some(h) = hold_s {
                lines.push(msg(
                    &format!("号码保留 {} 分钟。", h.div_ceil(60)),
                    &format!("The number is held for {} min.", h.div_ceil(60)),
                ));
            }
            Step {
                title: Some(msg("请确认", "Please check")),
                lines,
                figure: yuan(*due_fen),
                answers: yes_no(msg("是的，去付款", "Yes, pay")),
                step: (5, "确认办理", "Confirm"),
                ..Step::default()
            }
        }
        Screen::ReregisterConfirm {
            number_masked,
            name_masked,
            id_masked,
        } => Step {
            title: Some(msg("请确认", "Please check")),
            lines: vec![
                msg(
                    &format!(
                        "您办理的是 {number_masked} 的实名补登记，登记人 {name_masked}，是吗？"
                    ),
                    &format!("Registering {number_masked} to {name_masked}. Is that right?"),
                ),
                msg(
                    &format!("证件号码：{id_masked}"),
                    &format!("ID number: {id_masked}"),
                ),
            ],
            answers: yes_no(msg("是的，登记", "Yes, register")),
            step: (5, "确认办理", "Confirm"),
            ..Step::default()
        },
        Screen::LossConfirm {
            action,
            number_masked,
            owner_masked,
        } => {
            let (title, lines, yes) = match action {
                LossAction::Report => (
                    msg("确认挂失", "Report the SIM lost"),
                    vec![
                        msg(
                            &format!("您要为 {number_masked}（{owner_masked}）办理挂失，是吗？"),
                            &format!(
                                "Report {number_masked} ({owner_masked}) lost. Is that right?"
                            ),
                        ),
                        msg(
                            "挂失后号码立即停机，原SIM卡不能再打电话、发短信和上网，他人也无法使用。",
                            "The number stops at once: the old SIM can no longer call, text or go online, for anyone.",
                        ),
                        msg(
                            "号码和话费余额都为您保留；补办新卡即可继续使用，找回原卡可办理解挂。",
                            "The number and its balance stay yours: a replacement SIM brings it back, and so does lifting the report if the card turns up.",
                        ),
                    ],
                    msg("是的，立即挂失", "Yes, report it now"),
                ),
                LossAction::Lift => (
                    msg("确认解挂", "Lift the loss report"),
                    vec![
                        msg(
                            &format!(
                                "{number_masked}（{owner_masked}）已挂失。您要解除挂失，恢复使用原SIM卡，是吗？"
                            ),
                            &format!(
                                "{number_masked} ({owner_masked}) is reported lost. Lift the report and use the old SIM again?"
                            ),
                        ),
                        msg(
                            "只有找回了原卡才需要解挂；如果已补办新卡，原卡已作废。",
                            "Lift it only if you found the card; after a replacement SIM the old one no longer works.",
                        ),
                    ],
                    msg("是的，解除挂失", "Yes, lift it"),
                ),
            };
            Step {
                title: Some(title),
                lines,
                answers: yes_no(yes),
                step: (5, "确认办理", "Confirm"),
                ..Step::default()
            }
        }
        Screen::PinFaces {
            faces_fen,
            valid_days,
        } => Step {
            title: Some(msg("请选择充值卡面值", "Choose the recharge card's value")),
            lines: vec![
                msg(
                    &format!(
                        "电子充值卡：打印出充值密码，可为本公司任意号码充值，{valid_days} 天内有效。"
                    ),
                    &format!(
                        "An electronic recharge card: a printed PIN that tops up any of our numbers, valid for {valid_days} days."
                    ),
                ),
                msg(
                    "本机只收纸币，不找零：请放入正好的金额。",
                    "Notes only, no change: please put in the exact amount.",
                ),
            ],
            choices: faces_fen
                .iter()
                .map(|f| {
                    choice(
                        &format!("face:{f}"),
                        &yuan(*f),
                        msg(&yuan(*f), &yuan(*f)),
                        msg("", ""),
                    )
                })
                .collect(),
            step: (2, "选择面值", "Value"),
            ..Step::default()
        },
        Screen::HeldNumbers {
            name_masked,
            id_masked,
            numbers,
            limit,
            advice,
            receipt,
        } => {
            let mut lines = vec![msg(
                &format!(
                    "{name_masked}（{id_masked}）名下共有 {} 个本公司号码（每证最多 {limit} 个）：",
                    numbers.len()
                ),
                &format!(
                    "{name_masked} ({id_masked}) holds {} of our numbers (at most {limit} per ID):",
                    numbers.len()
                ),
            )];
            if numbers.is_empty() {
                lines.push(msg(
                    "您名下没有本公司的号码。",
                    "There is no number of ours under your ID.",
                ));
            }
            let choices = numbers
                .iter()
                .map(|n| {
                    let (zh, en) = n.status.words();
                    let (kzh, ken) = if n.prepaid {
                        ("预付费", "prepaid")
                    } else {
                        ("后付费", "postpaid")
                    };
                    SimChoice {
                        enabled: false,
                        ..choice(
                            "",
                            &n.number_masked,
                            msg(&n.number_masked, &n.number_masked),
                            msg(
                                &format!("{zh} · {kzh}\n{}开户", n.opened_on),
                                &format!("{en} · {ken}\nopened {}", n.opened_on),
                            ),
                        )
                    }
                })
                .collect();
            if *advice {
                lines.push(msg(
                    "有号码不是您办的？请带身份证和清单到柜台，核实后为您停机、销户。",
                    "A number you never opened? Take your ID card and the list to the counter: it is checked, then stopped and closed.",
                ));
            }
            if let Some(r) = receipt {
                lines.push(match r {
                    ReceiptState::Printing => msg("正在打印清单……", "Printing the list…"),
                    ReceiptState::Printed => {
                        msg("清单已打印，请取走", "The list is printed; please take it")
                    }
                    ReceiptState::NotPrinted => msg(
                        "清单未能打印，请到营业厅柜台查询",
                        "The list could not be printed; the counter can print it",
                    ),
                });
            }
            let printing = *receipt == Some(ReceiptState::Printing);
            let mut answers = Vec::new();
            if receipt.is_none() {
                answers.push(choice(
                    "print",
                    "print list",
                    msg("打印清单", "Print the list"),
                    msg("", ""),
                ));
            }
            if !*advice && !numbers.is_empty() {
                answers.push(choice(
                    "not_mine",
                    "not mine",
                    msg("不是我办的", "One is not mine"),
                    msg("", ""),
                ));
            }
            answers.push(choice("done", "done", msg("完成", "Done"), msg("", "")));
            Step {
                title: Some(msg("名下号码", "Numbers under your ID")),
                lines,
                choices,
                answers: answers
                    .into_iter()
                    .map(|c| SimChoice {
                        enabled: !printing,
                        ..c
                    })
                    .collect(),
                step: (5, "查询结果", "Result"),
                ..Step::default()
            }
        }
        Screen::Issuing {
            step,
            attempt,
            attempts,
        } => {
            let title = match step {
                IssueStep::Dispensing => msg("正在取卡……", "Taking a blank card…"),
                IssueStep::Writing => msg("正在写卡……", "Writing your SIM card…"),
                IssueStep::Activating => msg("正在开通号码……", "Activating your number…"),
            };
            let mut lines = vec![msg("请稍候，不要离开。", "Please wait here.")];
            if *attempt > 1 {
                lines.push(msg(
                    &format!("上一张卡未通过检测，已回收；正在使用第 {attempt} 张（最多 {attempts} 张）。"),
                    &format!("The last card failed its check and was kept; using card {attempt} of at most {attempts}."),
                ));
            }
            Step {
                title: Some(title),
                lines,
                busy: true,
                step: (6, "制卡", "Making your card"),
                no_back: true,
                ..Step::default()
            }
        }
        Screen::TakeCard { seconds } => Step {
            title: Some(msg("请取走您的SIM卡", "Please take your SIM card")),
            lines: vec![msg(
                &format!("卡在出卡口，请在 {seconds} 秒内取走。未取走的卡会被回收，请找工作人员。"),
                &format!(
                    "It is at the card slot: take it within {seconds} s. A card left there is kept; staff can give it to you."
                ),
            )],
            step: (6, "制卡", "Making your card"),
            no_back: true,
            ..Step::default()
        },
        Screen::SimDone {
            service,
            number_masked,
            outcome,
            reference,
            receipt,
        } => {
            let (zh, en) = service_words(*service);
            let (title, detail) = match outcome {
                SimOutcome::Issued {
                    taken, iccid_tail, ..
                } => (
                    msg(&format!("✓ {zh}已办理"), &format!("✓ {en} done")),
                    if *taken {
                        msg(
                            &format!("新卡（尾号 {iccid_tail}）已开通，插入手机即可使用。"),
                            &format!(
                                "Your new card (ending {iccid_tail}) is active; put it in your phone."
                            ),
                        )
                    } else {
                        msg(
                            &format!(
                                "新卡（尾号 {iccid_tail}）已开通，已回收在机内，请找工作人员领取。"
                            ),
                            &format!(
                                "Your new card (ending {iccid_tail}) is active and was kept inside; staff will hand it to you."
                            ),
                        )
                    },
                ),
                SimOutcome::Registered { .. } => (
                    msg("✓ 实名登记已完成", "✓ Registration done"),
                    msg("登记结果将以短信通知。", "An SMS will confirm it."),
                ),
                SimOutcome::LossReported { at, .. } => (
                    msg("✓ 已挂失停机", "✓ Reported lost: the number is stopped"),
                    msg(
                        &format!("{at} 起原SIM卡已停用。补办新卡后号码和余额照常使用。"),
                        &format!(
                            "The old SIM stopped working at {at}. A replacement SIM keeps the number and its balance."
                        ),
                    ),
                ),
                SimOutcome::PinSold {
                    serial_tail,
                    face_fen,
                    expires_on,
                } => (
                    msg(
                        &format!("✓ {} 充值卡已售出", yuan(*face_fen)),
                        &format!("✓ Your {} recharge card", yuan(*face_fen)),
                    ),
                    msg(
                        &format!(
                            "充值密码印在卡上（序列号尾号 {serial_tail}），{expires_on} 前有效。请妥善保管，勿告诉他人。"
                        ),
                        &format!(
                            "The PIN is on the printed card (serial ending {serial_tail}), valid until {expires_on}. Keep it to yourself."
                        ),
                    ),
                ),
                SimOutcome::LossLifted { at, .. } => (
                    msg("✓ 已解除挂失", "✓ The loss report is lifted"),
                    msg(
                        &format!("{at} 起号码恢复使用，原SIM卡可以继续使用。"),
                        &format!("The number works again from {at}, on the old SIM."),
                    ),
                ),
                SimOutcome::Refunded { .. } => (
                    msg(
                        "未能办理，已打印退款凭条",
                        "Not done; a refund voucher is printed",
                    ),
                    msg(
                        "请持退款凭条到营业厅柜台退款。",
                        "Take the voucher to the counter for a refund.",
                    ),
                ),
                SimOutcome::Unconfirmed { .. } => (
                    msg(
                        "已提交，结果待确认",
                        "Sent; the result is not confirmed yet",
                    ),
                    msg(
                        "工作人员会为您确认，结果也会以短信通知。",
                        "Staff will confirm it for you, and an SMS will tell you.",
                    ),
                ),
            };
            let receipt_line = match (outcome, receipt) {
                (SimOutcome::PinSold { .. }, ReceiptState::Printing) => {
                    msg("正在打印充值卡……", "Printing your recharge card…")
                }
                (SimOutcome::PinSold { .. }, ReceiptState::Printed) => msg(
                    "充值卡已打印，请取走",
                    "The card is printed; please take it",
                ),
                _ => receipt_words(receipt),
            };
            let mut lines = Vec::new();
            if !number_masked.is_empty() {
                lines.push(msg(number_masked, number_masked));
            }
            lines.extend([
                detail,
                msg(
                    &format!("业务流水号：{reference}"),
                    &format!("Reference: {reference}"),
                ),
                receipt_line,
            ]);
            Step {
                title: Some(title),
                lines,
                // Leaving waits for the receipt (the flow finishes printing first).
                answers: matches!(outcome, SimOutcome::LossReported { replace: true, .. })
                    .then(|| {
                        choice(
                            ServiceId::ReplaceSim.id(),
                            "replace now",
                            msg("现在补卡", "New SIM now"),
                            msg("", ""),
                        )
                    })
                    .into_iter()
                    .chain([
                        choice(
                            "done",
                            "no thanks",
                            msg("不用了，谢谢", "No, thank you"),
                            msg("", ""),
                        ),
                        choice(
                            "more",
                            "something else",
                            msg("办理其他业务", "Something else"),
                            msg("", ""),
                        ),
                    ])
                    .map(|c| SimChoice {
                        enabled: *receipt != ReceiptState::Printing,
                        ..c
                    })
                    .collect(),
                step: (6, "办理结果", "Result"),
                ..Step::default()
            }
        }
        _ => return None,
    };
    Some(s)
}

/// Shows a real-name step; false when `screen` is not one.
pub(super) fn show(window: &KioskWindow, screen: &Screen) -> bool {
    let Some(s) = step(screen) else {
        return false;
    };
    let a = window.global::<SimAdapter>();
    a.set_title(s.title.unwrap_or_else(|| msg("", "")));
    a.set_lines(ModelRc::new(VecModel::from(s.lines)));
    a.set_paragraphs(ModelRc::new(VecModel::from(s.paragraphs)));
    a.set_figure(s.figure.into());
    a.set_has_notice(s.notice.is_some());
    if let Some(n) = &s.notice {
        let (zh, en) = sorry::notice_words(n);
        a.set_notice(msg(&zh, &en));
    }
    a.set_choices(ModelRc::new(VecModel::from(s.choices)));
    a.set_wide_choices(s.wide_choices);
    a.set_answers(ModelRc::new(VecModel::from(s.answers)));
    a.set_agreement(s.agreement);
    a.set_agreement_read(!s.agreement);
    a.set_busy(s.busy);
    a.set_camera(s.camera);
    a.set_searchable(s.search.is_some());
    let search = s.search.unwrap_or_default();
    a.set_search_open(false);
    a.set_search_typed(search.as_str().into());
    a.set_search(search.into());
    let (n, zh, en) = s.step;
    window
        .global::<super::AppAdapter>()
        .set_steps(app::AUTH_STEPS);
    app::go_at(window, Page::Sim, n, zh, en);
    if s.no_back {
        window.global::<super::AppAdapter>().set_can_back(false);
    }
    true
}

/// Shows the camera's picture in the live-photo screen's framing guide. It comes mirrored
/// like a looking glass from the face part (docs/face.md), as people expect to see
/// themselves. The picture is on screen only: a frame that does not fit its size is
/// dropped, and it is forgotten as soon as another screen shows.
pub(super) fn set_preview(window: &KioskWindow, p: &Preview) {
    let a = window.global::<SimAdapter>();
    let row = usize::try_from(p.width).unwrap_or(0) * 3;
    let rows = usize::try_from(p.height).unwrap_or(0);
    if !a.get_camera() || row == 0 || rows == 0 || p.rgb.len() != row * rows {
        return;
    }
    let buffer = SharedPixelBuffer::<Rgb8Pixel>::clone_from_slice(&p.rgb, p.width, p.height);
    a.set_preview(Image::from_rgb8(buffer));
    a.set_has_preview(true);
}

/// Drops the camera's last picture (the live photo is over): frames that still come are
/// not shown.
pub(super) fn forget_preview(window: &KioskWindow) {
    let a = window.global::<SimAdapter>();
    a.set_camera(false);
    if a.get_has_preview() {
        a.set_preview(Image::default());
        a.set_has_preview(false);
    }
}

pub(super) fn connect(window: &KioskWindow, sink: &Sink) {
    let (w, s) = (window.as_weak(), sink.clone());
    window.global::<SimAdapter>().on_act(move |action| {
        let Some(w) = w.upgrade() else { return };
        match action.as_str() {
            "confirm" => s.ui(Ui::Confirm),
            "back" => s.ui(Ui::Back),
            "done" => app::leave(&w, &s, Ui::Cancel, false),
            "more" => app::leave(&w, &s, Ui::Confirm, true),
            other => s.ui(Ui::Select(other.to_owned())),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::step;
    use crate::flow::Screen;

    #[test]
    fn every_face_guidance_and_issue_step_has_words() {
        use crate::flow::devices::FaceGuidance as G;
        for g in [G::LookAtCamera, G::TurnHead, G::TurnBack, G::Done] {
            let s = step(&Screen::FaceCapture {
                guidance: g,
                attempt: 1,
                notice: None,
            })
            .expect("a step");
            assert!(!s.title.expect("a title").zh.is_empty());
        }
    }
}
