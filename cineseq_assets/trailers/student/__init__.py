"""A faster CNN student distilled from the FER2013 mini-Xception teacher, for trailer emotion.

Data (:mod:`.data`): face crops from every video and image in ``shared/media`` and from the poster and
trailer-frame collections in ``shared/data/images``, cut and scaled exactly as the teacher wants them
(10 px margin, 64x64 grayscale) and cached once as a compressed ``.npz``. The split is by *source* (one
video, one photo, or one film's poster and trailer frames together), so no held-out source shares a
face, a scene or a poster with training.

Net (:mod:`.net`): the teacher's own graph (mini-Xception: two plain convolutions, then four residual
blocks of depthwise-separable convolutions) with a stride-2 first convolution, on the teacher's 64x64
crop, warm-started from the teacher's weights.

Training (:mod:`.train`): the teacher labels every augmented batch on the fly; the project's fitting
loop (:mod:`cineseq_assets.fitting`) does the rest. Export (:mod:`.export`) writes ONNX with the
emotion contract in its metadata; evaluation (:mod:`.evaluate`) measures agreement and speed on the
held-out test sources.
"""
