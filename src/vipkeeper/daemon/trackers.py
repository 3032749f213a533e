"""Tracker wiring: the trackers of a config, and their verdict for each instance.

Builds every ``vrrp_script``, ``vrrp_pgsql``, ``vrrp_dcs``, ``track_file``,
``vrrp_track_process`` and ``track_interface`` tracker, runs them under the supervisor, and when one
changes computes the tracking verdict (``core.tracking.evaluate``) of every
instance that tracks it, for the daemon to give to the node.  A reload keeps
the trackers whose configuration did not change, with their results, so a
reload never resets a check to INIT.

Eligibility (``vrrp_dcs`` lock mode, :class:`~vipkeeper.checks.NeedsEligibility`): after
every change and every wiring, each such tracker is told whether every *other* tracker of
every instance that tracks it passes (status OK, no track_file fault); only then does it
take the lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable
from typing import Any

from vipkeeper.checks import NeedsEligibility, Tracker
from vipkeeper.checks.file import FileTracker
from vipkeeper.checks.interface import InterfaceTracker
from vipkeeper.checks.process import ProcessTracker, ProcessWatcher
from vipkeeper.checks.script import ScriptCheck
from vipkeeper.config.model import Config, GlobalDefs, VrrpInstance, VrrpSyncGroup
from vipkeeper.core.events import TrackingChanged
from vipkeeper.core.tracking import Status, Tracked, evaluate
from vipkeeper.daemon.supervisor import Supervisor
from vipkeeper.errors import VipkeeperError
from vipkeeper.io import scripts
from vipkeeper.io.inotify import Inotify
from vipkeeper.io.netlink import Netlink
from vipkeeper.io.proc_connector import ProcFs

log = logging.getLogger(__name__)


class StartupError(VipkeeperError):
    pass


def process_key(name: str) -> str:
    """A vrrp_track_process's key among the trackers (its name may be a vrrp_script's too)."""
    return f"track_process {name}"


_PROCESS_TASK = "track-processes"


def _script_file(word: str) -> str:
    """The file a script's first word names: a bare name is searched in the scripts' PATH, as
    keepalived does before its security check (lib/notify.c check_script_secure, find_path);
    one not found stays as written (the check then says it cannot be found)."""
    if "/" in word:
        return word
    return shutil.which(word, path=scripts.script_path_env()) or word


class ScriptUsers:
    """keepalived's rule for who runs a script: its ``user``, else ``script_user``, else
    the ``keepalived_script`` account if it exists, else root (with one warning)."""

    def __init__(self) -> None:
        self._warned_root = False

    def resolve(
        self, user: str | None, group: str | None, script: str, gd: GlobalDefs
    ) -> tuple[scripts.RunAs | None, str | None]:
        """(who runs it, why script security refuses it or None)."""
        name = user or gd.script_user
        grp_name = group if user else gd.script_group
        run_as = scripts.resolve_user(name, grp_name) if name else scripts.resolve_user("keepalived_script")
        if name and run_as is None:
            return None, f"user {name} does not exist"
        if run_as is None:
            run_as = scripts.RunAs("root", 0, 0)
            if not gd.enable_script_security and not self._warned_root:
                self._warned_root = True
                log.warning(
                    "scripts run as root: no script_user and no keepalived_script user "
                    "(keepalived: SECURITY VIOLATION - enable_script_security is off)"
                )
        if gd.enable_script_security and script:
            argv = scripts.split_command(script)
            why = scripts.insecure_reason(_script_file(argv[0]), run_as.uid) if argv else "empty script"
            if why:
                log.error("refusing to run script %s as %s: %s (enable_script_security)", script, run_as.user, why)
                return run_as, why
        return run_as, None


class TrackerSet:
    """Every tracker the daemon runs, and which instances track which."""

    def __init__(
        self, supervisor: Supervisor, on_verdict: Callable[[str, TrackingChanged], None], users: ScriptUsers
    ) -> None:
        self._supervisor = supervisor
        self._on_verdict = on_verdict  # (instance name, verdict)
        self.users = users
        self.trackers: dict[str, Tracker] = {}  # by the name track_script/track_file use
        self.interfaces: dict[str, InterfaceTracker] = {}
        self.tracked: dict[str, list[tuple[Tracked, Tracker]]] = {}  # instance name -> its trackers
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._files_by_dir: dict[str, list[FileTracker]] = {}
        self._inotify: Inotify | None = None
        self._processes: ProcessWatcher | None = None

    # ------------------------------------------------------------ building

    def build(self, config: Config, keep: frozenset[str] = frozenset()) -> None:
        """Build the trackers of ``config``; those named in ``keep`` are running with an
        unchanged configuration and stay as they are."""
        env = scripts.script_env()
        kept = {n: t for n, t in self.trackers.items() if n in keep}
        for name, task in list(self._tasks.items()):
            if name not in kept:
                task.cancel()
                del self._tasks[name]
        self.trackers = dict(kept)
        for name, sc in config.scripts.items():
            if name in kept:
                continue
            run_as, refused = self.users.resolve(sc.user, sc.group, sc.script, config.global_defs)
            self.trackers[name] = ScriptCheck(sc, run_as=run_as, env=env, on_change=self._changed, refused=refused)
        for name, pc in config.pgsql_checks.items():
            if name in kept:
                continue
            from vipkeeper.checks.pgsql import PgsqlCheck, PsycopgMissing  # psycopg is an optional dependency

            try:
                self.trackers[name] = PgsqlCheck(pc, on_change=self._changed)
            except PsycopgMissing as exc:
                raise StartupError(str(exc)) from None
        for name, dc in config.dcs_checks.items():
            if name in kept:
                continue
            from vipkeeper.checks.dcs import DcsTracker  # imported only when a config uses vrrp_dcs

            try:
                self.trackers[name] = DcsTracker(dc, on_change=self._changed)
            except (OSError, ValueError) as exc:  # TLS files that cannot be read
                raise StartupError(f"vrrp_dcs {name} ({dc.loc}): {exc}") from None
        self._build_files(config, kept)
        self._build_processes(config, kept)

    def _build_processes(self, config: Config, kept: dict[str, Tracker]) -> None:
        """One watcher for every vrrp_track_process; rebuilt (one /proc scan) on each build.
        Kept trackers keep their status: the scan only reports a real change."""
        self._stop_processes()
        if not config.track_processes:
            return
        trackers: list[ProcessTracker] = []
        for name, tp in config.track_processes.items():
            tracker = kept.get(process_key(name))
            if not isinstance(tracker, ProcessTracker):
                tracker = ProcessTracker(tp, on_change=self._changed)
                self.trackers[process_key(name)] = tracker
            trackers.append(tracker)
        self._processes = ProcessWatcher(trackers, ProcFs())
        self._processes.start()
        self._tasks[_PROCESS_TASK] = self._supervisor.spawn(self._processes.run_forever(), _PROCESS_TASK)

    def _stop_processes(self) -> None:
        task = self._tasks.pop(_PROCESS_TASK, None)
        if task is not None:
            task.cancel()
        if self._processes is not None:
            self._processes.close()
            self._processes = None

    def _build_files(self, config: Config, kept: dict[str, Tracker]) -> None:
        self._files_by_dir = {}
        for name, tf in config.track_files.items():
            tracker = kept.get(name)
            if not isinstance(tracker, FileTracker):
                tracker = FileTracker(tf, on_change=self._changed)
                try:
                    tracker.init_file()
                except OSError as exc:
                    log.error("track_file %s: cannot initialise %s: %s", name, tf.file, exc)
                tracker.read(notify=False)
                self.trackers[name] = tracker
            self._files_by_dir.setdefault(os.path.dirname(os.path.abspath(tf.file)), []).append(tracker)
        if not self._files_by_dir:
            return
        if self._inotify is None:
            self._inotify = Inotify(self._on_file_event)
            self._inotify.open()
        for d in self._files_by_dir:
            try:
                self._inotify.watch_dir(d)
            except OSError as exc:
                log.error("track_file: cannot watch %s: %s (changes there will not be seen)", d, exc)

    async def wire(self, nl: Netlink, inst: VrrpInstance, group: VrrpSyncGroup | None) -> None:
        """Which trackers ``inst`` follows (a sync group's apply to every member)."""
        ifaces = list(inst.track_interfaces)
        refs = list(inst.track_scripts + inst.track_files)
        procs = list(inst.track_processes)
        if group is not None:
            refs += list(group.track_scripts + group.track_files)
            ifaces += list(group.track_interfaces)
            procs += list(group.track_processes)
        out: list[tuple[Tracked, Tracker]] = []
        for ref in refs + ifaces + procs:
            tracker: Tracker | None
            if ref in ifaces:
                tracker = await self._interface(nl, ref.name)
            else:
                tracker = self.trackers.get(process_key(ref.name) if ref in procs else ref.name)
            if tracker is None:
                log.error("(%s) tracker %s is not supported yet; ignored", inst.name, ref.name)
                continue
            weight = ref.weight if ref.weight is not None else tracker.default_weight
            reverse = ref.weight_reverse if ref.weight is not None else tracker.default_reverse
            out.append((Tracked(ref.name, weight, reverse), tracker))
        self.tracked[inst.name] = out
        self.update_eligibility()

    def forget(self, name: str) -> None:
        self.tracked.pop(name, None)
        self.update_eligibility()

    def eligibility(self, tracker: Tracker) -> tuple[bool, str]:
        """Whether every other tracker of every instance that tracks ``tracker`` passes, and
        if not, which does not."""
        users = 0
        for inst, tracked in self.tracked.items():
            if not any(tr is tracker for _, tr in tracked):
                continue
            users += 1
            for t, tr in tracked:
                if tr is tracker:
                    continue
                if isinstance(tr, FileTracker):
                    if evaluate((), [(t, tr.value)]).faults:
                        return False, f"{inst}: track_file {t.name} is in fault"
                elif tr.status is not Status.OK:
                    return False, f"{inst}: {t.name} is {tr.status}"
        if users == 0:
            return False, "no vrrp_instance tracks it"
        return True, ""

    def update_eligibility(self) -> None:
        for tracker in self.trackers.values():
            if isinstance(tracker, NeedsEligibility) and tracker.needs_eligibility:
                tracker.set_eligible(*self.eligibility(tracker))

    async def _interface(self, nl: Netlink, ifname: str) -> InterfaceTracker:
        tracker = self.interfaces.get(ifname)
        if tracker is None:
            tracker = InterfaceTracker(ifname, on_change=self._changed_interface)
            link = await nl.link_by_name(ifname)
            tracker.set_up(None if link is None else link.up)
            self.interfaces[ifname] = tracker
        return tracker

    # ------------------------------------------------------------ running

    def start(self) -> None:
        for name, tracker in self.trackers.items():
            if name not in self._tasks and not isinstance(tracker, ProcessTracker):
                self._tasks[name] = self._supervisor.spawn(tracker.run_forever(), f"track-{name}")

    def close(self) -> None:
        self._stop_processes()
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    def verdict(self, name: str) -> TrackingChanged:
        """The tracking arithmetic's verdict for instance ``name``."""
        tracked = self.tracked.get(name, [])
        files = [(t, tr.value) for t, tr in tracked if isinstance(tr, FileTracker)]
        others = [(t, tr.status) for t, tr in tracked if not isinstance(tr, FileTracker)]
        return evaluate(others, files)

    def set_interface(self, ifname: str, up: bool | None) -> None:
        """A link event (``None``: the interface was deleted)."""
        tracker = self.interfaces.get(ifname)
        if tracker is not None:
            tracker.set_up(up)

    def _changed(self, tracker_name: str, status: Status) -> None:
        for name, tracked in list(self.tracked.items()):
            if any(t.name == tracker_name for t, _ in tracked):
                self._on_verdict(name, self.verdict(name))
        self.update_eligibility()

    def _changed_interface(self, ifname: str, status: Status) -> None:
        tracker = self.interfaces.get(ifname)
        for name, tracked in list(self.tracked.items()):
            if any(tr is tracker for _, tr in tracked):
                self._on_verdict(name, self.verdict(name))
        self.update_eligibility()

    def _on_file_event(self, directory: str, name: str, mask: int) -> None:
        for tracker in self._files_by_dir.get(directory, ()):
            if not name or os.path.basename(tracker.path) == name:
                tracker.read()
