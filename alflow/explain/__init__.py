"""Explanations as plain tensor functions: batched GradCAM and batched SSIM."""
from alflow.explain.gradcam import (
    RESNET_STRIDES, CamSettings, cam_grid, check_cam_grid, gradcam_captum, gradcam_closed_form, has_gap_linear_head,
    resize_and_normalize, resolve_targets,
)
from alflow.explain.ssim import ssim_batch

__all__ = ["RESNET_STRIDES", "CamSettings", "cam_grid", "check_cam_grid", "gradcam_captum", "gradcam_closed_form",
           "has_gap_linear_head", "resize_and_normalize", "resolve_targets", "ssim_batch"]
