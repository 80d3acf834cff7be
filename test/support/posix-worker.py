#!/usr/bin/python3
# A POSIX operation worker for the differential tests (test/support/posix-oracle.ts).
#
# Started as root:  /usr/bin/python3 -I posix-worker.py <uid> <gid> <groups,comma,separated> [umask-octal]
# it drops to that identity at once (setgroups, setgid, setuid; umask 022 unless given), then
# answers JSON lines: each request {"id", "op", "roots": [dir, ...], "path", ...} is performed
# under every root in turn (root + "/" + path) and answered with
#   {"id", "results": [{"ok": true, "value": ...} | {"ok": false, "errno": "EACCES"}, ...]}
# A malformed request (unknown op, missing field, bad type) is answered {"id", "error": "..."};
# the worker never exits on a bad request, only at the end of stdin.
#
# Only the standard library; ctypes for utimensat (UTIME_NOW / UTIME_OMIT, nanoseconds),
# faccessat (an errno, not a bool) and mknod of any type. 'tree' walks a directory (as whoever the
# worker is) and returns every entry's lstat, content hash, symlink target and user.* xattrs.
import ctypes
import ctypes.util
import errno as errnomod
import hashlib
import json
import os
import stat as statmod
import sys
import traceback

UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100

libc = ctypes.CDLL(ctypes.util.find_library('c') or None, use_errno=True)


class Timespec(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_nsec', ctypes.c_long)]


libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(Timespec), ctypes.c_int]
libc.utimensat.restype = ctypes.c_int
libc.faccessat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
libc.faccessat.restype = ctypes.c_int


class BadRequest(Exception):
    pass


# Every open adds O_NONBLOCK: a FIFO must never block the worker (open for writing without a
# reader fails ENXIO, reading one gives EOF); on regular files and directories it changes nothing.
NB = os.O_NONBLOCK


def read_all(p):
    fd = os.open(p, os.O_RDONLY | NB)
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                return b''.join(chunks)
            chunks.append(b)
    finally:
        os.close(fd)


def drop(uid, gid, groups, umask):
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    os.umask(umask)
    os.chdir('/')


def errname(n):
    return errnomod.errorcode.get(n, 'E%d' % n)


def check(rc):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def ftype(mode):
    for test, name in ((statmod.S_ISREG, 'file'), (statmod.S_ISDIR, 'dir'), (statmod.S_ISLNK, 'symlink'),
                       (statmod.S_ISFIFO, 'fifo'), (statmod.S_ISCHR, 'chr'), (statmod.S_ISBLK, 'blk'),
                       (statmod.S_ISSOCK, 'sock')):
        if test(mode):
            return name
    return 'unknown'


def statval(st):
    return {
        'type': ftype(st.st_mode), 'mode': st.st_mode, 'perm': st.st_mode & 0o7777,
        'uid': st.st_uid, 'gid': st.st_gid, 'nlink': st.st_nlink, 'size': st.st_size,
        'ino': st.st_ino, 'rdev': st.st_rdev,
        # ns times exceed 2**53: decimal strings, so that JSON.parse in JS keeps every digit
        'atime_ns': str(st.st_atime_ns), 'mtime_ns': str(st.st_mtime_ns), 'ctime_ns': str(st.st_ctime_ns),
    }


def contentval(b):
    v = {'size': len(b), 'sha256': hashlib.sha256(b).hexdigest()}
    if len(b) <= 256:
        try:
            v['text'] = b.decode('utf-8')
        except UnicodeDecodeError:
            v['hex'] = b.hex()
    return v


def need(req, key, types):
    if key not in req:
        raise BadRequest('missing field %r' % key)
    v = req[key]
    tt = types if isinstance(types, tuple) else (types,)
    if not isinstance(v, tt) or (isinstance(v, bool) and bool not in tt):
        raise BadRequest('field %r has the wrong type' % key)
    return v


def opt(req, key, types, default):
    return need(req, key, types) if key in req else default


def flags_of(req, default):
    names = opt(req, 'flags', list, default)
    f = 0
    for n in names:
        if not isinstance(n, str) or not n.startswith('O_') or not hasattr(os, n):
            raise BadRequest('unknown open flag %r' % (n,))
        f |= getattr(os, n)
    return f


def data_of(req, key='data'):
    if key + 'Hex' in req:
        return bytes.fromhex(need(req, key + 'Hex', str))
    return opt(req, key, str, '').encode('utf-8')


def timespec_of(v):
    if v == 'now':
        return Timespec(0, UTIME_NOW)
    if v == 'omit':
        return Timespec(0, UTIME_OMIT)
    if isinstance(v, int) and not isinstance(v, bool):
        return Timespec(v // 1_000_000_000, v % 1_000_000_000)
    if isinstance(v, str) and v.lstrip('-').isdigit():  # big ns values travel as strings from JS
        n = int(v)
        return Timespec(n // 1_000_000_000, n % 1_000_000_000)
    raise BadRequest('a time is an integer of ns, a decimal string of ns, "now" or "omit"')


ACCESS = {'F': os.F_OK, 'R': os.R_OK, 'W': os.W_OK, 'X': os.X_OK}


def run_script(req, p):
    """Opens p once, runs the steps through that one fd, closes. A failing step ends the script."""
    steps = need(req, 'steps', list)
    fd = os.open(p, flags_of(req, ['O_RDONLY']) | NB, opt(req, 'mode', int, 0o644))
    done = []
    failed = None
    try:
        for i, s in enumerate(steps):
            if not isinstance(s, dict):
                raise BadRequest('a step is an object')
            k = need(s, 'op', str)
            try:
                if k == 'write':
                    b = data_of(s)
                    done.append(os.pwrite(fd, b, opt(s, 'offset', int, 0)) if 'offset' in s else os.write(fd, b))
                elif k == 'read':
                    n = opt(s, 'size', int, 1 << 20)
                    done.append(contentval(os.pread(fd, n, need(s, 'offset', int)) if 'offset' in s else os.read(fd, n)))
                elif k == 'fstat':
                    done.append(statval(os.fstat(fd)))
                elif k == 'fchmod':
                    os.fchmod(fd, need(s, 'mode', int)); done.append(None)
                elif k == 'fchown':
                    os.fchown(fd, need(s, 'uid', int), need(s, 'gid', int)); done.append(None)
                elif k == 'ftruncate':
                    os.ftruncate(fd, need(s, 'length', int)); done.append(None)
                elif k == 'fsync':
                    os.fsync(fd); done.append(None)
                elif k == 'seek':
                    done.append(os.lseek(fd, need(s, 'offset', int), os.SEEK_SET))
                else:
                    raise BadRequest('unknown script step %r' % k)
            except OSError as e:
                failed = {'step': i, 'errno': e.errno}
                break
    finally:
        try:
            os.close(fd)
        except OSError as e:
            if failed is None:
                failed = {'step': 'close', 'errno': e.errno}
    if failed is not None:
        err = OSError(failed['errno'], 'script')
        err.script = {'failedStep': failed['step'], 'done': done}
        raise err
    return done


def tree(top):
    """Every entry below top, depth first in name order: lstat, content hash of regular files,
    symlink targets, user.* xattrs. Per-entry errors are recorded, never raised (fifos are never
    opened)."""
    out = []

    def walk(rel):
        full = os.path.join(top, rel) if rel else top
        for name in sorted(os.listdir(full)):
            r = rel + '/' + name if rel else name
            fp = os.path.join(full, name)
            e = {'path': r}
            out.append(e)
            try:
                st = os.lstat(fp)
            except OSError as x:
                e['error'] = 'lstat ' + errname(x.errno)
                continue
            e['stat'] = statval(st)
            try:
                if statmod.S_ISREG(st.st_mode):
                    e['content'] = contentval(read_all(fp))
                elif statmod.S_ISLNK(st.st_mode):
                    e['target'] = os.readlink(fp)
                xs = sorted(n for n in os.listxattr(fp, follow_symlinks=False) if n.startswith('user.'))
                if xs:
                    e['xattrs'] = {n: os.getxattr(fp, n, follow_symlinks=False).hex() for n in xs}
            except OSError as x:
                e['error'] = errname(x.errno)
            if statmod.S_ISDIR(st.st_mode):
                try:
                    walk(r)
                except OSError as x:
                    e['error'] = 'listdir ' + errname(x.errno)

    walk('')
    return out


def one(req, root):
    # cwd: true runs the op in root with the relative path as given, so that path length limits
    # (PATH_MAX) apply to the same string under every root, whatever the roots' own lengths.
    # cwd: a directory (relative to root), or a list of them chdir'ed into one after the other,
    # runs it there: the file system then sees paths from its root longer than the string.
    cwd = req.get('cwd', False)
    if cwd is not False:
        dirs = [] if cwd is True else [cwd] if isinstance(cwd, str) else cwd
        if not isinstance(dirs, list) or not all(isinstance(d, str) and d for d in dirs):
            raise BadRequest('cwd is true, a directory or a list of directories')
        if 'padTo' in req:
            raise BadRequest('padTo pads absolute paths: not with cwd')
        os.chdir(root)
        try:
            for d in dirs:
                os.chdir(d)
            return one_at(req, '')
        finally:
            os.chdir('/')
    return one_at(req, root)


def padded(req, p):
    # padTo: N makes the absolute path (root included) exactly N bytes by appending 'z's to its
    # last name: the same absolute length under roots of different lengths.
    if 'padTo' not in req:
        return p
    n = need(req, 'padTo', int) - len(os.fsencode(p))
    if n < 0:
        raise BadRequest('padTo: the path is already longer')
    return p + 'z' * n


def one_at(req, root):
    op = req['op']
    rel = need(req, 'path', str)
    p = padded(req, os.path.join(root, rel) if root else rel)
    p2 = padded(req, os.path.join(root, need(req, 'path2', str)) if root else need(req, 'path2', str)) if op in ('rename', 'link') else None
    follow = opt(req, 'follow', bool, True)
    if op == 'stat':
        return statval(os.stat(p))
    if op == 'lstat':
        return statval(os.lstat(p))
    if op == 'open':  # open and close at once: permission checks of open(2) itself
        fd = os.open(p, flags_of(req, ['O_RDONLY']) | NB, opt(req, 'mode', int, 0o644))
        os.close(fd)
        return None
    if op == 'create':  # open(O_CREAT|O_WRONLY|flags, mode), optional data, close
        fd = os.open(p, os.O_CREAT | os.O_WRONLY | NB | flags_of(req, []), opt(req, 'mode', int, 0o644))
        try:
            b = data_of(req)
            if b:
                os.write(fd, b)
        finally:
            os.close(fd)
        return None
    if op == 'write':  # open(flags, default O_WRONLY), pwrite at offset (or write when appending), close
        fd = os.open(p, flags_of(req, ['O_WRONLY']) | NB, opt(req, 'mode', int, 0o644))
        try:
            b = data_of(req)
            n = os.pwrite(fd, b, opt(req, 'offset', int, 0)) if 'offset' in req else os.write(fd, b)
        finally:
            os.close(fd)
        return n
    if op == 'read':
        return contentval(read_all(p))
    if op == 'truncate':
        os.truncate(p, need(req, 'length', int))
        return None
    if op == 'unlink':
        os.unlink(p); return None
    if op == 'mkdir':
        os.mkdir(p, opt(req, 'mode', int, 0o777)); return None
    if op == 'mkdirs':  # mkdir -p: every missing directory of the path, one request
        os.makedirs(p, opt(req, 'mode', int, 0o777)); return None
    if op == 'rmdir':
        os.rmdir(p); return None
    if op == 'rename':
        os.rename(p, p2); return None
    if op == 'link':
        os.link(p, p2, follow_symlinks=False); return None
    if op == 'symlink':  # path is the new link, target its content (not joined to the root)
        os.symlink(need(req, 'target', str), p); return None
    if op == 'readlink':
        return os.readlink(p)
    if op == 'chmod':
        os.chmod(p, need(req, 'mode', int)); return None
    if op == 'chown':
        os.chown(p, opt(req, 'uid', int, -1), opt(req, 'gid', int, -1)); return None
    if op == 'lchown':
        os.lchown(p, opt(req, 'uid', int, -1), opt(req, 'gid', int, -1)); return None
    if op == 'utime':
        # times: null (utimensat(..., NULL): both now) or atime/mtime each ns | "now" | "omit"
        if 'atime' not in req and 'mtime' not in req:
            ts = None
        else:
            arr = (Timespec * 2)(timespec_of(req.get('atime', 'omit')), timespec_of(req.get('mtime', 'omit')))
            ts = arr
        check(libc.utimensat(AT_FDCWD, os.fsencode(p), ts, 0 if follow else AT_SYMLINK_NOFOLLOW))
        return None
    if op == 'mkfifo':
        os.mkfifo(p, opt(req, 'mode', int, 0o666)); return None
    if op == 'mknod':
        kinds = {'reg': statmod.S_IFREG, 'fifo': statmod.S_IFIFO, 'chr': statmod.S_IFCHR, 'blk': statmod.S_IFBLK}
        kind = need(req, 'kind', str)
        if kind not in kinds:
            raise BadRequest('mknod kind is reg, fifo, chr or blk')
        os.mknod(p, kinds[kind] | opt(req, 'mode', int, 0o644), opt(req, 'dev', int, 0)); return None
    if op == 'access':
        m = 0
        for c in opt(req, 'mode', str, 'F'):
            if c not in ACCESS:
                raise BadRequest('access mode is made of F, R, W, X')
            m |= ACCESS[c]
        check(libc.faccessat(AT_FDCWD, os.fsencode(p), m, 0))
        return None
    if op == 'listdir':
        return sorted(os.listdir(p))
    if op == 'setxattr':
        os.setxattr(p, need(req, 'name', str), data_of(req, 'value'), follow_symlinks=follow); return None
    if op == 'getxattr':
        return contentval(os.getxattr(p, need(req, 'name', str), follow_symlinks=follow))
    if op == 'listxattr':
        return sorted(os.listxattr(p, follow_symlinks=follow))
    if op == 'removexattr':
        os.removexattr(p, need(req, 'name', str), follow_symlinks=follow); return None
    if op == 'script':
        return run_script(req, p)
    if op == 'tree':
        return tree(p)
    raise BadRequest('unknown op %r' % op)


def handle(req):
    if not isinstance(req, dict):
        raise BadRequest('a request is a JSON object')
    need(req, 'op', str)
    if req['op'] == 'ping':
        m = os.umask(0)
        os.umask(m)
        return {'uid': os.getuid(), 'gid': os.getgid(), 'groups': sorted(os.getgroups()), 'umask': m}
    if req['op'] == 'umask':
        return {'old': os.umask(need(req, 'mask', int))}
    roots = need(req, 'roots', list)
    if not roots or not all(isinstance(r, str) for r in roots):
        raise BadRequest('roots is a non-empty list of directories')
    out = []
    for r in roots:
        try:
            out.append({'ok': True, 'value': one(req, r)})
        except OSError as e:
            res = {'ok': False, 'errno': errname(e.errno) if e.errno is not None else 'EUNKNOWN'}
            if hasattr(e, 'script'):
                res['value'] = e.script
            out.append(res)
    return out


def main():
    uid, gid = int(sys.argv[1]), int(sys.argv[2])
    groups = [int(g) for g in sys.argv[3].split(',') if g != ''] if len(sys.argv) > 3 else []
    umask = int(sys.argv[4], 8) if len(sys.argv) > 4 else 0o022
    drop(uid, gid, groups, umask)
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        rid = None
        try:
            req = json.loads(line)
            rid = req.get('id') if isinstance(req, dict) else None
            res = handle(req)
            key = 'results' if isinstance(res, list) else 'value'
            ans = {'id': rid, key: res}
        except BadRequest as e:
            ans = {'id': rid, 'error': str(e)}
        except Exception as e:  # never die on a request
            ans = {'id': rid, 'error': '%s: %s' % (type(e).__name__, e), 'trace': traceback.format_exc(limit=3)}
        out.write(json.dumps(ans) + '\n')
        out.flush()


if __name__ == '__main__':
    main()
