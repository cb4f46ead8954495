"""The training loop: Adam / AdamW over parameter groups, a per-step lr schedule (warm-up + cosine
or the paper's step decay, training.schedule), multi-task loss, optional EMA of the weights,
augmentation (data/augment.py), progress bar, best-on-validation checkpoint, resume, time budget."""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Sequence

import torch

from edgefashion.data import GarmentDataset, make_loader
from edgefashion.data.dataset import keeps_sigchld_handler
from edgefashion.data.augment import augment_preset
from edgefashion.errors import BadInput
from edgefashion.labels import LabelSchema
from edgefashion.models import read_checkpoint, save_checkpoint
from edgefashion.models.contract import check_model
from edgefashion.runtime.preprocess import PreprocessConfig
from edgefashion.training.config import TrainConfig
from edgefashion.training.ema import ModelEMA
from edgefashion.runtime.postprocess import attribute_scores
from edgefashion.training.evaluate import collect_model_outputs, evaluate_model
from edgefashion.training.group_metrics import selection_score, tune_thresholds
from edgefashion.training.head_warmup import base_loss, cache_pooled_features, fit_heads, supports_head_warmup
from edgefashion.losses.attribute_groups import GroupedAttributeLoss, training_schema
from edgefashion.losses.multitask import build_loss, training_forward
from edgefashion.training.optim import add_group, build_optimizer
from edgefashion.training.schedule import LRSchedule
from edgefashion.training.temperature import apply_temperatures, calibration_report, fit_temperatures
from edgefashion.training.weight_average import interpolate, snapshot


class Trainer:
    """``Trainer(model, schema, preprocess, cfg, out_dir).fit(train_samples, val_samples)``."""

    def __init__(self, model, schema: LabelSchema, preprocess: PreprocessConfig, cfg: TrainConfig,
                 out_dir: str | Path) -> None:
        check_model(model)
        schema.check_outputs(model.num_categories, model.num_attributes, "the model")
        schema = training_schema(schema, cfg.attribute_loss)  # records the softmax groups
        self.model, self.schema, self.preprocess, self.cfg = model, schema, preprocess, cfg
        self.out_dir = Path(out_dir)
        self.device = torch.device(cfg.device)
        self.opt = build_optimizer(model, cfg)
        self._model_groups = len(self.opt.param_groups)  # loss parameters join after these
        self.schedule: LRSchedule | None = None
        self.ema: ModelEMA | None = None
        self.epoch, self.step, self.best, self.history = 0, 0, -1.0, []
        self._pending_opt_state, self._pending_ema, self.loss_fn = None, None, None
        self._heads_state: dict | None = None  # the model after the head fit (WiSE-FT's start)

    # ------------------------------------------------------------------ resume
    def resume(self, path: str | Path) -> None:
        ckpt = read_checkpoint(path)
        self.model.load_state_dict(ckpt["state_dict"])
        st = ckpt.get("train_state") or {}
        if "optimizer" in st:  # loaded in fit(), once a loss with parameters has joined the optimizer
            self._pending_opt_state = (st["optimizer"], st.get("loss"))
        self._pending_ema = st.get("ema")
        self.epoch, self.step = int(st.get("epoch", 0)), int(st.get("step", 0))
        self.history = list(st.get("history", []))
        # re-scored: a checkpoint from before the selection score kept another metric as "best"
        scores = [self.score(r["val"]) for r in self.history if "val" in r]
        scores = [v for v in scores if not math.isnan(v)]
        self.best = max(scores) if scores else float(st.get("best", -1.0))

    def _save(self, name: str, model: torch.nn.Module | None = None) -> Path:
        """last.pt: the trained weights (+ the EMA's in train_state); best.pt: the validated ones
        (``model``: another validated model, e.g. a WiSE-FT point)."""
        state = {"optimizer": self.opt.state_dict(),
                 "epoch": self.epoch, "step": self.step, "best": self.best,
                 "history": self.history, "config": self.cfg.to_dict(),
                 "loss": self.loss_fn.state_dict() if self.loss_fn is not None else None}
        if self.ema is not None and name != "best.pt":
            state["ema"] = self.ema.state_dict()
        if model is None:
            model = self.eval_model() if name == "best.pt" else self.model
        return save_checkpoint(self.out_dir / name, model, self.schema, self.preprocess, state)

    def eval_model(self) -> torch.nn.Module:
        """The model validation scores and best.pt holds: the EMA when there is one."""
        return self.ema.module if self.ema is not None else self.model

    # ------------------------------------------------------------------ fit
    def fit(self, train_samples: Sequence, val_samples: Sequence = ()) -> dict:
        """Train (and validate each epoch); -> a summary. Leaves no DataLoader signal handler."""
        with keeps_sigchld_handler():
            return self._fit(train_samples, val_samples)

    def _fit(self, train_samples: Sequence, val_samples: Sequence = ()) -> dict:
        cfg = self.cfg
        if not train_samples:
            raise BadInput("no training samples; check the dataset path and split")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed + self.epoch)
        start = time.monotonic()  # the time budget covers the head fit too
        loss_fn = self._setup(train_samples)
        if cfg.head_epochs and self.epoch == 0 and not self.history:
            self._fit_heads(train_samples, val_samples, loss_fn)
        loader = self._make_loader(train_samples)
        self.schedule = LRSchedule(cfg, len(loader))
        stopped = None
        while self.epoch < cfg.epochs and stopped is None:
            stopped = self._run_epoch(loader, loss_fn, start)
            self.epoch += 1
            record = {"epoch": self.epoch, "step": self.step, "lr": self._lrs()["head"],
                      "lrs": self._lrs(), "loss": self._epoch_loss,
                      "seconds": round(time.monotonic() - start, 1)}
            self.history.append(record)
            if val_samples:
                record["val"] = evaluate_model(self.eval_model(), val_samples, self.schema,
                                               self.preprocess, batch_size=cfg.batch_size,
                                               device=self.device)
                score = self.score(record["val"])
                if not math.isnan(score) and score > self.best:
                    self.best = score
                    self._save("best.pt")
            self._save("last.pt")
            _log(record, self.schema.num_categories)
        if val_samples and cfg.wise_ft and self._heads_state is not None and self.epoch > 0:
            self._wise_ft(val_samples)
        if not val_samples:
            self._save("best.pt")
        best = self._best_record()
        tuned, temps = self._calibrate(val_samples) if val_samples else (None, None)
        return {"epochs": self.epoch, "steps": self.step, "stopped": stopped or "done",
                "seconds": time.monotonic() - start, "history": self.history,
                "best_score": self.best, "best_metric": self.best_metric,
                "best_epoch": best.get("epoch"), "best_wise_ft_alpha": best.get("wise_ft_alpha"),
                "best_category_top1": best.get("val", {}).get("category_top1", math.nan),
                "best_val": best.get("val", {}), "attribute_loss": self.cfg.attribute_loss,
                "softmax_groups": list(self.schema.softmax_groups), "tuned_thresholds": tuned,
                "temperatures": temps,
                "checkpoint": str(self.out_dir / "best.pt")}

    def _wise_ft(self, val_samples: Sequence) -> None:
        """Score points between the heads-on-frozen-features model and the fine-tuned one
        (training.weight_average) on validation, as the epochs are; best.pt keeps the best."""
        end = snapshot(self.eval_model())
        model = copy.deepcopy(self.eval_model())
        for alpha in self.cfg.wise_ft:
            model.load_state_dict(interpolate(self._heads_state, end, alpha))
            record = {"epoch": self.epoch, "step": self.step, "phase": "WiSE-FT",
                      "wise_ft_alpha": alpha, "lr": None, "loss": None,  # nothing trained
                      "val": evaluate_model(model, val_samples, self.schema, self.preprocess,
                                            batch_size=self.cfg.batch_size, device=self.device)}
            self.history.append(record)
            score = self.score(record["val"])
            if not math.isnan(score) and score > self.best:
                self.best = score
                self._save("best.pt", model)
            _log(record, self.schema.num_categories)

    # ------------------------------------------------------------------ model selection
    best_metric = "selection_score"

    def score(self, report: dict) -> float:
        """The mean of category top-1 (with categories), group top-1 and multi-label mAP."""
        return selection_score(report, self.schema.num_categories)

    def _best_record(self) -> dict:
        scored = [r for r in self.history if "val" in r]
        return max(scored, key=lambda r: self.score(r["val"]), default={}) if scored else {}

    def _calibrate(self, val_samples: Sequence) -> tuple[dict | None, dict | None]:
        """On best.pt's validation outputs: F1-optimal thresholds of the multi-label attributes and
        (``cfg.temperature``) a temperature per softmax head (training.temperature), written into
        best.pt's schema, which every backend applies. -> (thresholds, {head: temperature, ECE and
        NLL before / after on these photos}), each None when there is nothing to fit."""
        multi = [i for g, idx in self.schema.group_indices().items()
                 if g not in self.schema.exclusive_groups for i in idx]
        path = self.out_dir / "best.pt"
        heads = self.schema.num_categories > 1 or bool(self.schema.softmax_groups)
        if not path.is_file() or not (multi or (self.cfg.temperature and heads)):
            return None, None
        ckpt = read_checkpoint(path)
        model = copy.deepcopy(self.eval_model())  # the trained model itself stays as it ended
        model.load_state_dict(ckpt["state_dict"])
        outs = collect_model_outputs(model, val_samples, self.preprocess, self.cfg.batch_size,
                                     self.device)
        tuned = temps = None
        if multi:
            scores = attribute_scores(outs["attribute_logits"], self.schema)
            thr = self.schema.thresholds()
            thr[multi] = tune_thresholds(scores[:, multi], outs["attributes"][:, multi], thr[multi])
            self.schema = self.schema.with_thresholds(thr)
            tuned = {self.schema.attribute_names[i]: float(thr[i]) for i in multi}
        if self.cfg.temperature and heads:
            self.schema = apply_temperatures(self.schema, fit_temperatures(outs, self.schema))
            temps = calibration_report(outs, self.schema)
            print("temperatures fitted on validation (top score's ECE on those photos, as trained "
                  "-> scaled): " + "  ".join(f"{h} {r['temperature']:.2f} ({r['ece_raw']:.1%} -> "
                                              f"{r['ece']:.1%})" for h, r in temps.items()), flush=True)
        save_checkpoint(path, model, self.schema, self.preprocess, ckpt.get("train_state"))
        return tuned, temps

    def _setup(self, train_samples: Sequence) -> torch.nn.Module:
        """The loss (its parameters join the optimizer), resumed state, the model on its device."""
        loss_fn = self._build_loss(train_samples).to(self.device)
        self.loss_fn = loss_fn
        if self.schema.softmax_groups and not any(isinstance(m, GroupedAttributeLoss)
                                                  for m in loss_fn.modules()):
            # the model's own paper loss (vsam, m2fashion, multibranch) trains sigmoids
            print(f"note: {type(self.model).__name__}'s own loss trains every attribute as a sigmoid; "
                  "its exclusive groups are answered as sigmoids", flush=True)
            self.schema = self.schema.replace(softmax_groups=())
        loss_params = list(loss_fn.parameters())  # e.g. learned task-uncertainty weights
        if loss_params and len(self.opt.param_groups) == self._model_groups:
            add_group(self.opt, loss_params)
        if self._pending_opt_state:
            opt_state, loss_state = self._pending_opt_state
            if loss_state:
                loss_fn.load_state_dict(loss_state)
            self.opt.load_state_dict(opt_state)
            self._pending_opt_state = None
        self.model.to(self.device)
        if self.cfg.ema and self.ema is None:
            self.ema = ModelEMA(self.model, self.cfg.ema)
            if self._pending_ema:
                self.ema.load_state_dict(self._pending_ema)
        return loss_fn

    def _lrs(self) -> dict[str, float]:
        """The current lr per parameter group, by name (the first group is the head)."""
        out = {}
        for i, g in enumerate(self.opt.param_groups):
            out.setdefault(g.get("name", f"group{i}") if i else "head", g["lr"])
        return out

    # ------------------------------------------------------------------ hooks (SemiSupervisedTrainer)
    def _build_loss(self, train_samples: Sequence) -> torch.nn.Module:
        return build_loss(self.model, self.schema, train_samples, self.cfg)

    def _make_loader(self, train_samples: Sequence):
        cfg = self.cfg
        ds = GarmentDataset(train_samples, self.preprocess, train=True, flip_prob=cfg.flip_prob,
                            augment=augment_preset(cfg.augment))
        return make_loader(ds, cfg.batch_size, shuffle=True, num_workers=cfg.num_workers, seed=cfg.seed)

    def _prepare_batch(self, batch: dict) -> dict:
        """The loader's batch on the training device."""
        return {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}

    def _forward(self, batch: dict) -> dict:
        """The model's training outputs for the loss."""
        return training_forward(self.model, batch)

    def _run_epoch(self, loader, loss_fn, start: float) -> str | None:
        from tqdm.auto import tqdm

        cfg, self._epoch_loss, n = self.cfg, 0.0, 0
        self.model.train()
        if cfg.freeze_bn:
            freeze_batch_norms(self.model.backbone_module())
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", leave=False, unit="batch",
                   disable=None if cfg.progress else True)  # None: no bar when not a terminal
        for batch in bar:
            self.schedule.apply(self.opt, self.step, time.monotonic() - start)
            batch = self._prepare_batch(batch)
            out = self._forward(batch)
            losses = loss_fn(out, batch)
            self.opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            self.opt.step()
            if self.ema is not None:
                self.ema.update(self.model)
            self.step += 1
            n += 1
            self._epoch_loss += (losses["loss"].item() - self._epoch_loss) / n
            bar.set_postfix(loss=f"{self._epoch_loss:.3f}")
            if cfg.max_steps and self.step >= cfg.max_steps:
                return "max_steps"
            if cfg.max_minutes and time.monotonic() - start > cfg.max_minutes * 60:
                return "time budget"
        return None


    def _fit_heads(self, train_samples: Sequence, val_samples: Sequence, loss_fn) -> None:
        """LP-FT's linear-probe step on cached frozen features (training.head_warmup); validated
        as epoch 0, so best.pt is never worse than the heads on the frozen backbone."""
        if not supports_head_warmup(self.model):
            print(f"note: {type(self.model).__name__} has no shared pooled heads; no head warm-up")
            return
        cache = cache_pooled_features(self.model, train_samples, self.preprocess,
                                      self.cfg.batch_size, self.device)
        record = {"epoch": 0, "step": 0, "phase": "heads on frozen features",
                  **fit_heads(self.model, cache, base_loss(loss_fn), self.cfg.head_epochs, self.cfg.lr,
                              self.cfg.weight_decay, self.cfg.seed), "lr": self.cfg.lr}
        record["loss"] = record["final_loss"]
        if val_samples:
            record["val"] = evaluate_model(self.model, val_samples, self.schema, self.preprocess,
                                           batch_size=self.cfg.batch_size, device=self.device)
            score = self.score(record["val"])
            self.best = score if not math.isnan(score) else self.best
        if self.ema is not None:  # the average starts from the fitted heads
            self.ema = ModelEMA(self.model, self.cfg.ema)
        self._heads_state = snapshot(self.model)
        if val_samples:
            self._save("best.pt")
        self.history.append(record)
        print(f"heads fitted on frozen features ({record['images']} images + flips, "
              f"{record['head_epochs']} epochs, {record['seconds']:.0f} s)", flush=True)
        _log(record, self.schema.num_categories)


def freeze_batch_norms(module) -> None:
    """Batch norms in eval mode: a 16-image batch of augmented crops would otherwise replace the
    ImageNet running statistics within a few dozen steps (weights still train)."""
    if isinstance(module, torch.nn.Module):
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


def _log(record: dict, num_categories: int) -> None:
    val = record.get("val", {})
    extra = ""
    if val:
        if num_categories > 1:
            extra = f"  val top-1 {val['category_top1']:.3f}  top-3 {val['category_top3']:.3f}"
        groups = val.get("groups", {})
        excl = "  ".join(f"{g} {m['top1']:.2f}/{m['majority_share']:.2f}"
                         for g, m in groups.items() if m["kind"] == "exclusive")
        if excl:
            extra += f"  groups top-1/majority: {excl} (mean {val['group_top1_mean']:.3f})"
        if "attribute_map" in val:
            extra += f"  attr mAP {val['attribute_map']:.3f}"
        extra += f"  score {selection_score(val, num_categories):.3f}"
    if record.get("phase") == "WiSE-FT":
        print(f"WiSE-FT alpha {record['wise_ft_alpha']:g} (heads-only -> epoch {record['epoch']}):"
              f"{extra}", flush=True)
        return
    print(f"epoch {record['epoch']}: loss {record['loss']:.4f}  lr {record['lr']:.2g}{extra}", flush=True)
