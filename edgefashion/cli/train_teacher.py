"""`edgefashion train ... --teacher SPEC`: the teacher (loaded, or fine-tuned within the budget) and
the distilling trainer; the library parts live in training/teacher_recipe.py and training/distill.py."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path


def prepare_teacher(args, student, schema, preprocess, cfg, train, val) -> tuple[dict, object]:
    """-> (the teacher's record: checkpoint, figures, budget; the student's TrainConfig).

    A checkpoint is used as it is (its labels are checked where it is loaded: distill.Teacher,
    semi.Teacher); weights are fine-tuned into OUT/teacher/ first (reused by --resume), with the
    budget split printed."""
    from edgefashion.training import teacher_recipe as tr
    from edgefashion.training.trainer import Trainer

    spec = str(args.teacher)
    if tr.is_checkpoint(spec):
        print(f"teacher: checkpoint {spec}; the student gets the whole budget", flush=True)
        return {"spec": spec, "checkpoint": spec, "trained_here": False}, cfg
    out = Path(args.out) / "teacher"
    if args.resume and (out / "best.pt").is_file():
        print(f"teacher: {out / 'best.pt'} (trained before this --resume)", flush=True)
        return {"spec": spec, "checkpoint": str(out / "best.pt"), "trained_here": False}, cfg
    start = time.monotonic()
    size = args.teacher_size or args.input_size
    model, t_prep = tr.build_teacher(spec, schema, size, args.allow_download)
    plan = None
    if cfg.max_minutes:
        if cfg.threads:
            import torch

            torch.set_num_threads(cfg.threads)
        load = tr.time_loading(train, preprocess, cfg)
        t_step = tr.time_step(model, size, cfg.batch_size) + load
        s_step = tr.time_step(student, args.input_size, cfg.batch_size, teacher=model,
                              teacher_size=size) + load
        steps = -(-len(train) // cfg.batch_size)
        plan = tr.plan_budget(cfg.max_minutes, steps, t_step, s_step, args.teacher_share,
                              time.monotonic() - start)
        print(f"teacher-student {plan.describe()}", flush=True)
    print(f"teacher: {tr.TEACHER_MODEL} on {spec} at {size} px, fine-tuned into {out}", flush=True)
    t_cfg = replace(cfg, max_minutes=plan.teacher_minutes if plan else None)  # the student's recipe
    summary = Trainer(model, schema, t_prep, t_cfg, out).fit(train, val)
    spent = (time.monotonic() - start) / 60
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    record = {"spec": spec, "checkpoint": summary["checkpoint"], "trained_here": True,
              "model": tr.TEACHER_MODEL, "input_size": size, "minutes": round(spent, 2),
              "epochs": summary["epochs"], "best_val": summary["best_val"],
              "budget": plan.to_dict() if plan else None}
    val_top1 = summary["best_val"].get("category_top1")
    print(f"teacher done in {spent:.1f} min, {summary['epochs']} epochs"
          + (f", val top-1 {val_top1:.3f}" if val_top1 is not None else ""), flush=True)
    if cfg.max_minutes:
        cfg = replace(cfg, max_minutes=max(cfg.max_minutes - spent, 0.1))
        print(f"student: {cfg.max_minutes:.1f} min left of {plan.total_minutes:g}", flush=True)
    return record, cfg


def distill_trainer(args, model, schema, preprocess, cfg):
    from edgefashion.training.distill import DistillConfig, DistillTrainer, Teacher

    dcfg = DistillConfig(args.distill_temperature, args.distill_alpha, args.hint_weight)
    teacher = Teacher(args.teacher, schema, preprocess, cfg.device)
    print(f"distilling {teacher.name} ({teacher.path}, {teacher.preprocess.input_size} px) into "
          f"{args.model}: temperature {dcfg.temperature:g}, alpha {dcfg.alpha:g}, hint "
          f"{dcfg.hint_weight:g}", flush=True)
    return DistillTrainer(model, schema, preprocess, cfg, args.out, dcfg, teacher)


def report_teacher(teacher: dict, summary: dict) -> None:
    """Teacher and student side by side (both on the same validation split)."""
    t, s = teacher.get("best_val") or {}, summary.get("best_val") or {}
    if "category_top1" in t and "category_top1" in s:
        print(f"validation top-1: teacher {t['category_top1']:.3f}, student {s['category_top1']:.3f}"
              f" (top-3 {t.get('category_top3', float('nan')):.3f} / "
              f"{s.get('category_top3', float('nan')):.3f})", flush=True)


def semi_trainer_from_args(args, model, schema, preprocess, cfg):
    """`edgefashion train --semi-supervised --teacher T --unlabelled DIR [...]` -> the trainer."""
    from edgefashion.errors import BadInput
    from edgefashion.training.semi import SemiConfig, semi_trainer

    if not args.teacher or not args.unlabelled:
        raise BadInput("--semi-supervised needs --teacher (a checkpoint, e.g. an MSFAN best.pt, or "
                       "weights such as efficientnet-lite2) and --unlabelled DIR (a folder, list file "
                       "or glob of images)")
    semi = SemiConfig(teacher=str(args.teacher), unlabelled_ratio=args.unlabelled_ratio,
                      sigma_lr=args.sigma_lr)
    return semi_trainer(model, schema, preprocess, cfg, args.out, semi, args.unlabelled)
