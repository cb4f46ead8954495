"""edgefashion train DATA: train a model on a DeepFashion-C style or folder-per-category dataset."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgefashion.cli.common import LAYOUTS, add_quiet_flag, quiet_of


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model (CPU or GPU)",
                       description="Train on DeepFashion-C (Anno/, Eval/) or one-folder-per-category data.")
    p.add_argument("data", help="dataset root")
    p.add_argument("--val", help="validation data (default: the dataset's val split / validation folder)")
    p.add_argument("--layout", default="auto",
                   choices=LAYOUTS)
    p.add_argument("--model", default="msfan", help="model name (see `edgefashion env`)")
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier (0.125-0.5 for CPU)")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--batch-norm", action="store_true", help="VGG-16-BN backbone (faster from scratch)")
    p.add_argument("--backbone-weights", help="local torchvision ImageNet weights file")
    p.add_argument("--model-opt", action="append", metavar="KEY=VALUE", help="extra model option")
    p.add_argument("--pretrained", metavar="SPEC",
                   help="pretrained backbone weights: an installed weights package "
                   "(efficientnet-lite0/1/2) or a local state_dict file; switches to the fine-tuning "
                   "recipe (AdamW, warm-up + cosine, lower backbone lr, label smoothing, strong "
                   "augmentation) and the weights' own mean / std")
    p.add_argument("--allow-download", action="store_true",
                   help="let --pretrained fetch hub weights (never done otherwise; or set "
                   "EDGEFASHION_ALLOW_DOWNLOAD=1)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16)
    rec = p.add_argument_group("recipe (defaults: fine-tuning with --pretrained, else from scratch; "
                               "see edgefashion/training/recipe.py)")
    rec.add_argument("--schedule", choices=["cosine", "paper"],
                     help="cosine: warm-up + cosine by steps or time budget (default); paper: "
                     "Adam 1e-4, lr / 10 every --lr-step epochs")
    rec.add_argument("--lr", type=float, help="peak lr (fine-tune 1e-3, scratch 1e-3, paper 1e-4)")
    rec.add_argument("--optimizer", choices=["adam", "adamw"])
    rec.add_argument("--weight-decay", type=float)
    rec.add_argument("--backbone-lr-mult", type=float,
                     help="lr multiplier of the pretrained backbone (fine-tune: 0.25)")
    rec.add_argument("--layer-decay", type=float,
                     help="layer-wise lr decay over the backbone's stages (e.g. 0.7; 0 = off)")
    rec.add_argument("--freeze-layers", type=int,
                     help="keep the backbone's first N stage groups frozen (cheaper on a CPU)")
    rec.add_argument("--warmup", type=float, help="fraction of training spent warming up")
    rec.add_argument("--min-lr-ratio", type=float, help="the cosine's final lr / peak lr")
    rec.add_argument("--label-smoothing", type=float, help="category label smoothing (fine-tune 0.1)")
    rec.add_argument("--augment", choices=["none", "light", "strong", "attributes"],
                     help="random resized crop / box jitter + colour jitter strength (flip always)")
    rec.add_argument("--ema", type=float, nargs="?", const=0.998, default=None, metavar="DECAY",
                     help="validate and save an EMA of the weights (decay 0.998 when given alone)")
    rec.add_argument("--head-epochs", type=int,
                     help="LP-FT: first fit the heads on cached frozen features for N epochs "
                     "(fine-tune default 40; 0 = off; models with shared pooled heads)")
    rec.add_argument("--freeze-bn", action=argparse.BooleanOptionalAction, default=None,
                     help="keep the pretrained backbone's batch-norm statistics (eval mode; "
                     "the default when fine-tuning on data with attribute groups)")
    rec.add_argument("--wise-ft", metavar="ALPHAS",
                     help="after the head fit and fine-tuning, score these weight-space points "
                     "(1-a)*heads-only + a*fine-tuned on validation, e.g. 0.25,0.5,0.75; 'none' = off")
    rec.add_argument("--temperature", action=argparse.BooleanOptionalAction, default=None,
                     help="after training, fit one temperature per softmax head (category, each "
                     "exclusive group) on validation so the scores are calibrated; each head's "
                     "answer stays the same (default on)")
    rec.add_argument("--attribute-loss", choices=["grouped", "paper"],
                     help="grouped (default): softmax cross-entropy per exclusive group, "
                     "--multilabel-loss for the other groups, each group's loss normalised; paper: "
                     "the MSFAN paper's weighted BCE on every attribute")
    rec.add_argument("--multilabel-loss", choices=["asymmetric", "focal", "bce"],
                     help="loss of the multi-label groups under --attribute-loss grouped "
                     "(default asymmetric)")
    rec.add_argument("--lr-step", type=int, help="paper schedule: divide the lr every N epochs (2)")
    rec.add_argument("--lr-gamma", type=float, help="paper schedule: the factor (0.1)")
    p.add_argument("--w-category", type=float, default=1.0)
    p.add_argument("--w-attributes", type=float, default=1.0)
    p.add_argument("--unknown-labels", default="0",
                   help="attribute label values meaning unknown: '0' (default) or '0,-1'")
    p.add_argument("--max-minutes", type=float, help="time budget; stops with a checkpoint")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--max-train", type=int, help="use at most N training images (quick runs)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", help="continue from a checkpoint written by train (last.pt)")
    p.add_argument("--keypoints", help="vsam pose keypoints: a list file or a folder of "
                   "<stem>_keypoints.json (OpenPose --write_json)")
    kd = p.add_argument_group("teacher-student (training/distill.py, training/teacher_recipe.py)")
    kd.add_argument("--teacher", metavar="SPEC",
                    help="distil a teacher into the model: a checkpoint written by train, or "
                    "pretrained weights (efficientnet-lite2, efficientnet-lite1, a state_dict file) "
                    "that a plain classifier is fine-tuned from first, inside --max-minutes; with "
                    "--semi-supervised it pseudo-labels the unlabelled images instead")
    kd.add_argument("--teacher-share", type=float, default=0.5,
                    help="share of --max-minutes for training a teacher from weights (0.5)")
    kd.add_argument("--teacher-size", type=int,
                    help="the teacher's input size (default: the student's --input-size; the "
                    "weights' own, e.g. 260 for Lite2, costs 1.8x per step on a CPU)")
    kd.add_argument("--distill-temperature", type=float, default=2.0, help="soft-target temperature")
    kd.add_argument("--distill-alpha", type=float, default=0.5,
                    help="share of the soft targets in the loss (the labels get 1 - alpha)")
    kd.add_argument("--hint-weight", type=float, default=0.5,
                    help="weight of the pooled-feature hint (0 = off)")
    semi = p.add_argument_group("semi-supervised (teacher-student, MSFAN paper 4.4.1)")
    semi.add_argument("--semi-supervised", action="store_true",
                      help="mix unlabelled images into every batch, pseudo-labelled by --teacher")
    semi.add_argument("--unlabelled", help="unlabelled images: a folder, list file or glob")
    semi.add_argument("--unlabelled-ratio", type=float, default=1.0,
                      help="unlabelled images per labelled image in a batch (1.0 = equal)")
    semi.add_argument("--sigma-lr", type=float, help="lr of the learned loss weights sigma1/2 "
                      "(default: --lr)")
    p.add_argument("-o", "--out", default="runs/train", help="output folder for checkpoints")
    add_quiet_flag(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.config_dict import parse_options
    from edgefashion.data.splits import load_split, subsample
    from edgefashion.errors import BadInput, DatasetError
    from edgefashion.models.build import build_model, model_options, with_schema_options
    from edgefashion.training import Trainer
    from edgefashion.training.recipe import recipe_summary

    schema, train = load_split(args.data, "train", args.layout)
    if args.val:
        _, val = load_split(args.val, "val", args.layout, schema=schema)
    else:
        try:
            _, val = load_split(args.data, "val", args.layout, schema=schema)
        except DatasetError as e:  # no validation split: train without one, and say so
            print(f"note: no validation split ({e}); best.pt will be the last epoch")
            val = []
        val = [] if val is train or _same(val, train) else val
    if args.keypoints:
        from edgefashion.data.keypoints import attach_keypoints

        train, val = attach_keypoints(train, args.keypoints), attach_keypoints(val, args.keypoints)
    train = subsample(train, args.max_train, args.seed)
    cfg = train_config(args, attributes=schema.num_attributes > 0)
    opts = model_options(args.model, {"width": args.width, "input_size": args.input_size,
                                      "batch_norm": args.batch_norm or None,
                                      "backbone_weights": args.backbone_weights},
                         parse_options(args.model_opt))
    opts = with_schema_options(args.model, schema, opts)  # e.g. multibranch: a head per group
    model, preprocess = build_model(args.model, schema, opts, args.input_size, args.pretrained,
                                    args.allow_download, seed=args.seed)
    print(f"recipe: {recipe_summary(cfg)}", flush=True)
    if args.unlabelled and not args.semi_supervised:
        raise BadInput("--unlabelled belongs to semi-supervised training; add --semi-supervised")
    teacher = None
    if args.teacher:
        from edgefashion.cli.train_teacher import prepare_teacher

        teacher, cfg = prepare_teacher(args, model, schema, preprocess, cfg, train, val)
        args.teacher = teacher["checkpoint"]
    if args.semi_supervised:
        from edgefashion.cli.train_teacher import semi_trainer_from_args

        trainer = semi_trainer_from_args(args, model, schema, preprocess, cfg)
    elif args.teacher:
        from edgefashion.cli.train_teacher import distill_trainer

        trainer = distill_trainer(args, model, schema, preprocess, cfg)
    else:
        trainer = Trainer(model, schema, preprocess, cfg, args.out)
    if args.resume:
        trainer.resume(args.resume)
    print(f"training {args.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params) "
          f"on {len(train)} images, validating on {len(val)}; {schema.num_categories} categories, "
          f"{schema.num_attributes} attributes", flush=True)
    summary = trainer.fit(train, val)
    if teacher is not None:
        from edgefashion.cli.train_teacher import report_teacher

        summary["teacher"] = teacher
        report_teacher(teacher, summary)
    out = Path(args.out) / "train_summary.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {Path(args.out) / 'best.pt'} (best val {summary['best_metric']} {summary['best_score']:.3f}), "
          f"{Path(args.out) / 'last.pt'} and {out}")
    return 0


def train_config(args, attributes: bool = False):
    """The recipe's TrainConfig (fine-tune with --pretrained, scratch, or paper; ``attributes``: the
    data has attribute groups) + given flags."""
    from edgefashion.training.recipe import recipe_config

    return recipe_config(
        bool(args.pretrained), args.schedule, attributes, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, optimizer=args.optimizer, weight_decay=args.weight_decay,
        backbone_lr_mult=args.backbone_lr_mult, layer_decay=args.layer_decay,
        freeze_layers=args.freeze_layers, warmup=args.warmup, min_lr_ratio=args.min_lr_ratio,
        label_smoothing=args.label_smoothing, augment=args.augment, ema=args.ema,
        lr_step_epochs=args.lr_step, lr_gamma=args.lr_gamma,
        head_epochs=args.head_epochs, freeze_bn=args.freeze_bn, wise_ft=wise_ft_of(args.wise_ft),
        temperature=args.temperature,
        attribute_loss=args.attribute_loss, multilabel_loss=args.multilabel_loss,
        w_category=args.w_category,
        w_attributes=args.w_attributes,
        unknown_labels=tuple(int(v) for v in args.unknown_labels.split(",")),
        max_minutes=args.max_minutes, max_steps=args.max_steps, num_workers=args.workers,
        threads=args.threads, seed=args.seed, device=args.device, progress=not quiet_of(args))


def wise_ft_of(text: str | None) -> tuple[float, ...] | None:
    """--wise-ft: None (the recipe's), () for 'none', else the comma-separated weights."""
    from edgefashion.errors import BadInput

    if text is None:
        return None
    if text.strip().lower() in ("none", "off", ""):
        return ()
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise BadInput(f"--wise-ft {text!r} must be comma-separated weights in (0, 1), e.g. "
                       "0.25,0.5,0.75, or 'none'") from None


def _same(a, b) -> bool:
    return len(a) == len(b) and all(x.path == y.path for x, y in zip(a, b))
