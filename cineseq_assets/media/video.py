"""Video files: describe a file, and sample its frames by timestamp (PyAV).

Shared by the stages that read trailers (trailers' emotion pipeline, frames' representative
stills); shot detection on the sampled frames is in :mod:`cineseq_assets.media.shots`.

PyAV (FFmpeg's libraries, shipped in its wheel) does the reading: it describes containers OpenCV
cannot (stream order, audio layout, packet timestamps) and lets the sampler skip decoding
what it does not need.

How the sampler decodes: every video packet is read (cheap: 50-130 ms for 43 MB), but a packet
is sent to the decoder only when a frame that will be kept depends on it. Packets since the
last keyframe wait in a queue; they are decoded when a packet at or after the next sampling
time arrives, and dropped, undecoded, when a new keyframe makes them unnecessary. At 2 frames
per second every group is needed (keyframes are usually 1-10 s apart); the saving then comes
from skipping the pictures nothing references before each sampling time (`skip_frame = NONREF`,
see `_PacketReader`: on a 31 s 720p x264 trailer 448 of 784 pictures are decoded, about a
quarter less CPU, the same pixels) and from converting to BGR only the kept
frames. At low rates whole groups of pictures are skipped, as a seek to the keyframe before each
sampling time would, but in one sequential read that also works in containers without a seek index.
The figures below predate the skipping of unreferenced pictures.
Measured on the 2-core machine (busy, best of 11-15 runs, ms per sampled frame at 2 fps):
bigbuckbunny 720p H.264 ~25 for this sampler, PyAV decoding everything and OpenCV
grab()/retrieve() alike (one keyframe: everything must be decoded); face_noface.mov HEVC 26-32
here vs 42-55 for OpenCV. A 60 s 1080p H.264 file with 2 s groups: 85 (2 fps), 92 (0.5 fps)
and 158 (0.2 fps) here, against 112 / 660 / 1900 for PyAV decoding every frame, 164 / 870 /
1470 for OpenCV grab(), and 142 at 0.2 fps for seeking before every sample, which on the 720p
clip (one keyframe) costs 150 per frame because each seek re-decodes from the start.

Truncated files: a file cut short before its index can be read fails in `probe` with
VideoInputError. A file that breaks mid-stream fails with VideoInputError if no frame could
be read; otherwise the sampler yields the frames it read and then sets `truncated = True` and
`problem` on the `FrameSampler` (pass `strict=True` to get a VideoInputError instead).
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np

from cineseq_assets.errors import InputFileError

DEFAULT_MAX_RESOLUTION = (4096, 2304)
"""Largest accepted (long side, short side): 4K DCI width, 16:9 height. Larger is rejected."""

VFR_PROBE_SECONDS = 10.0
"""How much of the stream `probe` reads to decide whether the frame rate varies."""

_VFR_PROBE_MAX_PACKETS = 1000  # caps the scan for very high frame rates

# Packets can arrive up to 16 positions before their display turn (H.264/HEVC reorder limit),
# so the timestamps seen before that many further packets may still have gaps.
_MAX_REORDER_DEPTH = 16

# Timestamps are floats; a frame this close before a sampling time (or a shot start) counts as at it.
TIME_EPSILON_S = 1e-4


class VideoInputError(InputFileError):
    """A video (a trailer) that cannot be used: the message names the file, the problem and the fix.

    A CineSeqError (through InputFileError, whose `path`, `problem` and `fix` it keeps).
    """


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` learns about a video file without decoding it."""

    path: Path
    duration_s: float
    fps: float  # nominal rate; for a variable frame rate, the average
    frame_count: int  # from the container's index when it has one, else duration * fps
    width: int
    height: int
    codec: str
    has_audio: bool
    audio_codec: str | None
    audio_channels: int | None
    audio_sample_rate: int | None
    variable_frame_rate: bool


class Frame(NamedTuple):
    """One sampled frame: its presentation time from the start of the video, and its pixels."""

    timestamp_s: float
    image_bgr: np.ndarray


# --------------------------------------------------------------------------------------------
# Opening and probing


def open_media(path: str | os.PathLike) -> av.container.InputContainer:
    """Open a media file with PyAV, turning every way it can fail into a VideoInputError."""
    path = Path(path)
    if not path.exists():
        raise VideoInputError(path, "the file does not exist", "Check the path, or download the trailer again.")
    if not path.is_file():
        raise VideoInputError(path, "this is not a regular file", "Give the path of the trailer's video file.")
    if path.stat().st_size == 0:
        raise VideoInputError(path, "the file is empty (0 bytes)",
                                "The download or export did not finish: fetch or export the trailer again.")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as error:
        raise VideoInputError(
            path, f"not a readable media file, or its header is corrupt or missing ({error.strerror})",
            "If it was cut short (an interrupted download), fetch it again; otherwise re-export it as MP4 (H.264).",
        ) from error


def probe(path: str | os.PathLike, max_resolution: tuple[int, int] = DEFAULT_MAX_RESOLUTION) -> VideoInfo:
    """Describe a video file: size, codec, duration, frame rate (and whether it varies), audio.

    Raises VideoInputError for a missing, empty or unreadable file, a file without a video
    stream, a codec this FFmpeg build cannot decode, and a picture larger than `max_resolution`
    (long side, short side; portrait videos are compared the same way).
    """
    path = Path(path)
    with open_media(path) as container:
        video = _first_video_stream(container, path)
        width, height = video.codec_context.width, video.codec_context.height
        _check_resolution(path, width, height, max_resolution)
        duration = _duration_s(container, video)  # before the frame-rate scan moves the read position
        variable = _has_variable_frame_rate(container, video)
        fps = float(video.average_rate or video.guessed_rate or 0) if variable else \
            float(video.guessed_rate or video.average_rate or 0)
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path=path, duration_s=duration, fps=fps,
            frame_count=video.frames or round(duration * fps),
            width=width, height=height, codec=video.codec_context.name,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio else None,
            audio_channels=audio.codec_context.channels if audio else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio else None,
            variable_frame_rate=variable,
        )


def _first_video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first video stream that this FFmpeg build can decode."""
    # Cover art in an audio file is a one-picture "video" stream: it is no trailer.
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        raise VideoInputError(path, "the file has no video stream (audio only, or an image)",
                                "Give the trailer's video file, not its soundtrack.")
    video = streams[0]
    name = video.codec_context.name if video.codec_context else "unknown"
    try:
        av.Codec(name, "r")
    except (av.FFmpegError, ValueError) as error:
        raise VideoInputError(path, f"its video codec {name!r} cannot be decoded by this FFmpeg build",
                                "Re-encode the trailer to H.264 (or HEVC/VP9/AV1) in MP4 or MOV.") from error
    return video


def _check_resolution(path: Path, width: int, height: int, max_resolution: tuple[int, int]) -> None:
    if width <= 0 or height <= 0:
        raise VideoInputError(path, "its video stream declares no picture size",
                                "The file is probably damaged: re-export or fetch it again.")
    limit_long, limit_short = sorted(max_resolution, reverse=True)
    if max(width, height) > limit_long or min(width, height) > limit_short:
        raise VideoInputError(
            path, f"its picture is {width}x{height}, above the {limit_long}x{limit_short} limit",
            "Downscale it (for example to 1920x1080) or raise max_resolution if the machine can afford it.")


def _duration_s(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> float:
    """The video stream's own duration, else the container's, else the end of its last packet."""
    if video.duration:
        return float(video.duration * video.time_base)
    if container.duration:
        return container.duration / av.time_base
    start = video.start_time or 0
    ends = [p.pts + (p.duration or 0) for p in container.demux(video) if p.pts is not None]
    return float((max(ends) - start) * video.time_base) if ends else 0.0


def _has_variable_frame_rate(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> bool:
    """Whether packet timestamps in the first VFR_PROBE_SECONDS are unevenly spaced.

    Container metadata is no help: `average_rate` and `base_rate` also differ for constant-rate
    files whose edit list drops a few frames (no_face.mp4).
    """
    limit = (video.start_time or 0) + VFR_PROBE_SECONDS / video.time_base
    stamps, stop_at, after_stop = [], None, 0
    for packet in container.demux(video):
        if packet.pts is None:
            continue
        stamps.append(packet.pts)
        if stop_at is None and (packet.pts > limit or len(stamps) >= _VFR_PROBE_MAX_PACKETS):
            stop_at = packet.pts
        elif stop_at is not None:
            after_stop += 1
            if after_stop >= _MAX_REORDER_DEPTH:
                break
    steps = np.diff(np.unique([s for s in stamps if stop_at is None or s <= stop_at]))
    if len(steps) < 2:
        return False
    # Two ticks of slack: a 1/1000 time base stores 29.97 fps as steps of 33 and 34 ms.
    return bool(steps.max() - steps.min() > max(2, 0.1 * np.median(steps)))


# --------------------------------------------------------------------------------------------
# Sampling frames


def sample_frames(path: str | os.PathLike, rate: float = 2.0, max_side: int | None = None, *,
                  max_resolution: tuple[int, int] = DEFAULT_MAX_RESOLUTION, strict: bool = False,
                  threads: int | None = None) -> FrameSampler:
    """Frames every 1/rate seconds: for each time k/rate, the first frame shown at or after it.

    Sampling by timestamp, not frame index, keeps the spacing right for variable frame rates.
    A frame that is the first after several sampling times (after a gap in a variable-rate
    stream) is yielded once, and sampling resumes at the next k/rate after it. With
    `max_side`, frames are downscaled (area interpolation) so their long side is at most that.
    The file is probed first, so its problems raise VideoInputError before any frame.
    Returns a FrameSampler: iterate it, then read `truncated` / `problem` (see the module doc).
    `threads`: FFmpeg's decoding threads (default: its own choice, about one per core). One thread
    costs ~15% less CPU per sampled frame; use it when other threads keep the cores busy anyway.
    """
    return FrameSampler(path, rate, max_side, max_resolution=max_resolution, strict=strict, threads=threads)


class FrameSampler(Iterator[Frame]):
    """An iterator of Frames that remembers, once exhausted, whether the file ended early.

    Attributes: `info` (VideoInfo), `frames_yielded`, `frames_decoded` (pictures the decoder
    returned, yielded or not), `truncated` (True when decoding stopped
    on an error or before the stream's declared end), `problem` (what went wrong, or None),
    `decoded_s` (seconds of the stream decoded).
    """

    def __init__(self, path: str | os.PathLike, rate: float, max_side: int | None, *,
                 max_resolution: tuple[int, int] = DEFAULT_MAX_RESOLUTION, strict: bool = False,
                 threads: int | None = None):
        if not rate > 0:
            raise ValueError(f"rate must be a positive number of frames per second, got {rate!r}")
        if max_side is not None and max_side < 16:
            raise ValueError(f"max_side must be at least 16 pixels, got {max_side!r}")
        self.info = probe(path, max_resolution)
        self.path, self.rate, self.strict, self.threads = Path(path), float(rate), strict, threads
        self.output_size = _scaled_size(self.info.width, self.info.height, max_side)
        self.frames_yielded, self.frames_decoded, self.truncated, self.problem = 0, 0, False, None
        self.decoded_s = 0.0  # how far into the stream decoding got (the last sampled frame's time when it failed)
        self._frames = self._generate()

    def __iter__(self) -> FrameSampler:
        return self

    def __next__(self) -> Frame:
        return next(self._frames)

    def close(self) -> None:
        """Stop early and release the file (also done when the sampler is garbage-collected)."""
        self._frames.close()

    def _generate(self) -> Iterator[Frame]:
        with open_media(self.path) as container:
            video = _first_video_stream(container, self.path)
            # Frame threading decodes several frames at once; SLICE (the default) barely helps H.264.
            video.thread_type = "AUTO"
            if self.threads:
                video.thread_count = self.threads
            origin, time_base = video.start_time or 0, video.time_base
            next_time = 0.0
            needed_pts = lambda: origin + (next_time - TIME_EPSILON_S) / time_base  # noqa: E731
            packets = _PacketReader(container, video, needed_pts, slot_ticks=1 / (self.rate * time_base))
            try:
                for frame in packets.decode_needed():
                    self.frames_decoded += 1
                    if frame.pts is None:  # cannot be placed on the timeline (raw streams without timestamps)
                        continue
                    timestamp = float((frame.pts - origin) * time_base)
                    if timestamp < next_time - TIME_EPSILON_S:
                        continue
                    yield Frame(timestamp, self._to_bgr(frame))
                    self.frames_yielded += 1
                    self.decoded_s = max(self.decoded_s, timestamp)
                    next_time = (math.floor((timestamp + TIME_EPSILON_S) * self.rate) + 1) / self.rate
            except av.FFmpegError as error:
                self._stopped_early(f"decoding failed after {self.frames_yielded} sampled frames ({error.strerror})")
                return
            read_until = float((packets.end_pts - origin) * time_base) if packets.end_pts is not None else 0.0
            self.decoded_s = max(self.decoded_s, read_until)
            if read_until < self.info.duration_s - max(0.5, 3 / max(self.info.fps, 1.0)):
                self._stopped_early(f"the stream ends at {read_until:.2f} s but declares {self.info.duration_s:.2f} s")

    def _stopped_early(self, problem: str) -> None:
        fix = "The file is probably truncated (an interrupted download): fetch or export it again."
        if self.frames_yielded == 0:
            raise VideoInputError(self.path, f"no frame could be read: {problem}", fix)
        self.truncated, self.problem = True, problem
        if self.strict:
            raise VideoInputError(self.path, problem, fix)

    def _to_bgr(self, frame: av.VideoFrame) -> np.ndarray:
        # One swscale pass converts and downscales together, cheaper than convert then cv2.resize.
        width, height = self.output_size
        if (width, height) == (frame.width, frame.height):
            return frame.to_ndarray(format="bgr24")
        return frame.reformat(width=width, height=height, format="bgr24", interpolation="AREA").to_ndarray()


class _PacketReader:
    """Reads a video stream's packets and decodes only those a wanted frame depends on.

    Packets wait in `held` (decode order, not yet given to the decoder) and are decoded when a
    packet at or after the wanted time arrives; a keyframe drops them, since nothing after a
    keyframe references them. One exception: in an open group of pictures (x264's open_gop,
    HEVC CRA) the "leading" pictures that follow a keyframe but show before it reference the
    previous group, so that group's held packets are kept until the leading pictures have passed.
    After a drop the decoder is drained and reset before the next keyframe, as a seek would:
    its reordering state refers to the skipped packets (without the reset, H.264 loses frames).

    Packets that must be decoded because a later wanted frame depends on them are sent with
    FFmpeg's `skip_frame = NONREF` when their own frame cannot be a wanted one: the decoder then
    skips the pictures nothing references (most B-frames), which are 40-45% of an x264 stream's
    frames, and decodes the references exactly as before. A frame cannot be wanted when it shows
    before the wanted time, or after another packet already read that shows at or after it
    within the same sampling slot. The wanted time lags while frames wait in the decoder, so this
    only ever decodes more than needed, never less: the sampled frames are the same pixels.
    """

    def __init__(self, container: av.container.InputContainer, video: av.video.stream.VideoStream,
                 needed_pts, slot_ticks: float = 0.0):
        """`needed_pts()` is the earliest timestamp (stream ticks) still wanted; it is asked again
        for every packet because it moves forward as frames are consumed. `slot_ticks` is the
        spacing of the sampling times (0: every frame may be wanted, nothing is skipped)."""
        self.container, self.video = container, video
        self.needed_pts, self.slot_ticks = needed_pts, slot_ticks
        self.end_pts: int | None = None  # end of the latest packet read, to tell a truncated file
        self.held: list[av.Packet] = []
        self.before_keyframe: list[av.Packet] = []  # held packets of the group before the latest keyframe
        self.keyframe_pts: int | None = None
        self.in_leading = False  # leading pictures of the latest keyframe may still come
        self.skipped = False  # packets were dropped since the decoder last got one
        # Timestamps of the latest packets read (bounded: forgetting one only decodes more).
        self.recent_pts: deque[int] = deque(maxlen=4 * _MAX_REORDER_DEPTH)
        self.skip_setting = "DEFAULT"

    def decode_needed(self) -> Iterator[av.VideoFrame]:
        """Frames in display order, skipping the decoding of packets no wanted frame needs."""
        for packet in self.container.demux(self.video):
            if packet.size == 0:  # the empty packet that ends the stream
                break
            yield from self._read(packet)
        if self.held and max(p.pts for p in self.held) >= self.needed_pts():
            yield from self._decode(self.before_keyframe + self.held)
        yield from self.video.decode(None)  # the frames the decoder still holds back for reordering

    def _read(self, packet: av.Packet) -> Iterator[av.VideoFrame]:
        if packet.pts is None:  # nothing to judge by: decode it and everything it may need
            yield from self._decode(self.before_keyframe + self.held + [packet])
            return
        self.end_pts = max(self.end_pts or packet.pts, packet.pts + (packet.duration or 0))
        self.recent_pts.append(packet.pts)
        if packet.is_keyframe:
            if self._keyframe_wanted(self.needed_pts()):  # a keyframe followed by a keyframe (all-intra)
                yield from self._decode(self.held)
            # Whether this keyframe is needed is decided once we know if leading pictures follow.
            self._drop(self.before_keyframe)
            self.before_keyframe, self.held = self.held, [packet]
            self.keyframe_pts, self.in_leading = packet.pts, True
            return
        self.held.append(packet)
        wanted = self.needed_pts()
        if self.in_leading and packet.pts < self.keyframe_pts:  # a leading picture
            if packet.pts >= wanted:
                yield from self._decode(self.before_keyframe + self.held)
            return
        keyframe_wanted = self._keyframe_wanted(wanted)
        self._drop(self.before_keyframe)  # the leading pictures, if any, are over
        self.before_keyframe, self.in_leading = [], False
        if packet.pts >= wanted or keyframe_wanted:
            yield from self._decode(self.held)

    def _keyframe_wanted(self, wanted: int) -> bool:
        """Whether the latest keyframe, still held while its leading pictures pass, is wanted."""
        return self.in_leading and bool(self.held) and self.held[0].is_keyframe and self.keyframe_pts >= wanted

    def _drop(self, packets: list[av.Packet]) -> None:
        self.skipped = self.skipped or bool(packets)

    def _decode(self, packets: list[av.Packet]) -> Iterator[av.VideoFrame]:
        """Decode packets in order (they are always before_keyframe and/or held), emptying both."""
        if self.skipped:
            yield from self.video.decode(None)  # drain: frames still inside may be wanted
            self.video.codec_context.flush_buffers()
            self.skipped = False
        self.before_keyframe, self.held = [], []
        for packet in packets:
            self._skip_unreferenced(not self._may_be_wanted(packet.pts))
            yield from self.video.decode(packet)

    def _may_be_wanted(self, pts: int | None) -> bool:
        """Whether the frame of a packet with this timestamp could be the next wanted one (or later)."""
        if pts is None or not self.slot_ticks:
            return True
        needed = self.needed_pts()
        if pts < needed:
            return False
        if pts >= needed + self.slot_ticks:  # may be the one wanted after the next
            return True
        return not any(needed <= other < pts for other in self.recent_pts)

    def _skip_unreferenced(self, skip: bool) -> None:
        # Frame threading copies this setting to the thread that gets the next packet.
        setting = "NONREF" if skip else "DEFAULT"
        if setting != self.skip_setting:
            self.video.codec_context.skip_frame = setting
            self.skip_setting = setting


def _scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) with the long side at most max_side, aspect kept, even dimensions."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
