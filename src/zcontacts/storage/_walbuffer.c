/* A SQLite VFS that writes a commit's WAL frames in as few writes as it can, not two per page.
 *
 * SQLite appends a frame to the WAL as two writes (a 24-byte header, then the page), so a create that changes
 * ~45 pages makes ~90 system calls before its COMMIT returns (docs/PERFORMANCE.md: the shim saves 10-18 % of
 * a write's CPU). This shim wraps the default VFS and, for WAL files only, collects consecutive appends in a
 * buffer (1 MiB, allocated at a file's first write) that it writes out, in parts of at most 124 KiB:
 *   - right after the page of a commit frame (a frame header whose "database size" field is non-zero), so a
 *     COMMIT's frames are in the file before SQLite publishes them in the wal-index and returns;
 *   - before anything else touches the file (a read, sync, size, truncate, file control, close, or a write that
 *     does not follow on), so the file always reads back what SQLite wrote;
 *   - before the connection's wal-index is locked, mapped or fenced (the database file's shm methods), a
 *     second guard for the same promise: other connections only read frames the wal-index lists.
 * Durability is SQLite's own: the bytes reach the file before the commit is visible, as without the shim;
 * syncs happen where SQLite asks for them. Every other file passes straight through.
 *
 * It also times each thread's reads (read_seconds): SQLite reads a page only when its own cache misses, and
 * what such a read costs says how cold the pages were (a read under a deadline, storage/database.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VFS_NAME "zcontacts-walbuffer"
#define BUFFER_BYTES (1 << 20)
/* SQLite's unix VFS writes at most 128 KiB per call (it masks the length to 17 bits). */
#define WRITE_PART 0x1f000
#define FRAME_HEADER 24

typedef struct File File;
struct File {
  sqlite3_file base;
  sqlite3_file *real;   /* the wrapped VFS's file, allocated right after this struct */
  File *wal;            /* on a database file: its connection's WAL file */
  File *database;       /* on a WAL file: the database file that points at it */
  int is_wal;
  unsigned char *buffer;/* on a WAL file: appends not yet written (allocated at its first write) */
  int used;
  sqlite3_int64 start;  /* file offset of buffer[0] */
  sqlite3_int64 commit_page; /* offset where a commit frame's page starts, or -1 */
};

static sqlite3_vfs *base;
/* For tests and diagnostics: WAL writes SQLite asked for, and writes this shim made to WAL files. */
static unsigned long long asked, made;
#define COUNT(counter) __atomic_fetch_add(&(counter), 1, __ATOMIC_RELAXED)
/* Nanoseconds the calling thread has spent in the wrapped VFS's xRead (any file opened through the shim). */
static _Thread_local unsigned long long read_ns;
static sqlite3_vfs vfs;
static sqlite3_io_methods methods[3]; /* by the wrapped file's iVersion (1..3) */

static int flush(File *f) {
  int rc = SQLITE_OK;
  for (int done = 0; done < f->used && rc == SQLITE_OK; done += WRITE_PART) {
    int part = f->used - done < WRITE_PART ? f->used - done : WRITE_PART;
    rc = f->real->pMethods->xWrite(f->real, f->buffer + done, part, f->start + done);
    COUNT(made);
  }
  f->used = 0;
  return rc;
}

static int flush_wal_of(File *f) { return f->wal ? flush(f->wal) : SQLITE_OK; }

static int xClose(sqlite3_file *p) {
  File *f = (File *)p;
  int rc = flush(f);
  if (f->database) f->database->wal = NULL;
  if (f->wal) f->wal->database = NULL;
  int closed = f->real->pMethods->xClose(f->real);
  free(f->buffer);
  f->buffer = NULL;
  return rc != SQLITE_OK ? rc : closed;
}

static unsigned long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

static int xRead(sqlite3_file *p, void *out, int amount, sqlite3_int64 offset) {
  File *f = (File *)p;
  int rc = flush(f);
  if (rc != SQLITE_OK) return rc;
  unsigned long long began = now_ns();
  rc = f->real->pMethods->xRead(f->real, out, amount, offset);
  read_ns += now_ns() - began;
  return rc;
}

static int xWrite(sqlite3_file *p, const void *data, int amount, sqlite3_int64 offset) {
  File *f = (File *)p;
  if (!f->is_wal) return f->real->pMethods->xWrite(f->real, data, amount, offset);
  COUNT(asked);
  if (f->buffer == NULL && (f->buffer = malloc(BUFFER_BYTES)) == NULL) {
    COUNT(made);  /* no memory for the buffer: SQLite's own writes, unjoined, are as correct */
    return f->real->pMethods->xWrite(f->real, data, amount, offset);
  }
  int rc;
  if (f->used && (offset != f->start + f->used || f->used + amount > BUFFER_BYTES)) {
    if ((rc = flush(f)) != SQLITE_OK) return rc;
  }
  const unsigned char *bytes = data;
  int commit_header = amount == FRAME_HEADER && (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
  /* A commit frame's header with nothing before it to join (a one-frame commit, or SQLite rewriting the
   * checksums of frames already written) goes straight to the file: it may have no page following it. */
  if (amount > BUFFER_BYTES || (commit_header && f->used == 0)) {
    f->commit_page = commit_header ? offset + amount : -1;
    COUNT(made);
    return f->real->pMethods->xWrite(f->real, data, amount, offset);
  }
  if (f->used == 0) f->start = offset;
  memcpy(f->buffer + f->used, data, amount);
  f->used += amount;
  if (commit_header) {
    f->commit_page = offset + amount;
    return SQLITE_OK;
  }
  if (offset == f->commit_page) {
    f->commit_page = -1;
    return flush(f);
  }
  f->commit_page = -1;
  return SQLITE_OK;
}

/* The methods below flush a WAL file first, then pass through. */
static int xTruncate(sqlite3_file *p, sqlite3_int64 size) {
  File *f = (File *)p;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}
static int xSync(sqlite3_file *p, int flags) {
  File *f = (File *)p;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}
static int xFileSize(sqlite3_file *p, sqlite3_int64 *size) {
  File *f = (File *)p;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}
static int xLock(sqlite3_file *p, int level) {
  File *f = (File *)p;
  return f->real->pMethods->xLock(f->real, level);
}
static int xUnlock(sqlite3_file *p, int level) {
  File *f = (File *)p;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xUnlock(f->real, level);
}
static int xCheckReservedLock(sqlite3_file *p, int *out) {
  File *f = (File *)p;
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}
static int xFileControl(sqlite3_file *p, int op, void *arg) {
  File *f = (File *)p;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}
static int xSectorSize(sqlite3_file *p) {
  File *f = (File *)p;
  return f->real->pMethods->xSectorSize(f->real);
}
static int xDeviceCharacteristics(sqlite3_file *p) {
  File *f = (File *)p;
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}
static int xShmMap(sqlite3_file *p, int region, int size, int extend, void volatile **out) {
  File *f = (File *)p;
  int rc = flush_wal_of(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}
static int xShmLock(sqlite3_file *p, int offset, int n, int flags) {
  File *f = (File *)p;
  int rc = flush_wal_of(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xShmLock(f->real, offset, n, flags);
}
static void xShmBarrier(sqlite3_file *p) {
  File *f = (File *)p;
  /* Never holds anything here (a commit's frames were written after its last page); a guard only. */
  flush_wal_of(f);
  f->real->pMethods->xShmBarrier(f->real);
}
static int xShmUnmap(sqlite3_file *p, int delete_flag) {
  File *f = (File *)p;
  return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}
static int xFetch(sqlite3_file *p, sqlite3_int64 offset, int amount, void **out) {
  File *f = (File *)p;
  int rc = flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, offset, amount, out);
}
static int xUnfetch(sqlite3_file *p, sqlite3_int64 offset, void *page) {
  File *f = (File *)p;
  return f->real->pMethods->xUnfetch(f->real, offset, page);
}

static int xOpen(sqlite3_vfs *self, sqlite3_filename name, sqlite3_file *p, int flags, int *out_flags) {
  (void)self;
  File *f = (File *)p;
  memset(f, 0, sizeof(*f));
  f->real = (sqlite3_file *)&f[1];
  f->commit_page = -1;
  int rc = base->xOpen(base, name, f->real, flags, out_flags);
  const sqlite3_io_methods *real = f->real->pMethods;
  if (real == NULL) return rc;  /* nothing to close */
  int version = real->iVersion < 1 ? 1 : real->iVersion > 3 ? 3 : real->iVersion;
  p->pMethods = &methods[version - 1];  /* so SQLite closes the real file even when the open failed */
  if (rc != SQLITE_OK) return rc;
  if ((flags & SQLITE_OPEN_WAL) && name != NULL) {
    f->is_wal = 1;
    sqlite3_file *database = sqlite3_database_file_object(name);
    if (database != NULL && database->pMethods != NULL && database->pMethods->xClose == xClose) {
      File *d = (File *)database;
      d->wal = f;
      f->database = d;
    }
  }
  return SQLITE_OK;
}

static int xDelete(sqlite3_vfs *s, const char *n, int sync) { (void)s; return base->xDelete(base, n, sync); }
static int xAccess(sqlite3_vfs *s, const char *n, int fl, int *r) { (void)s; return base->xAccess(base, n, fl, r); }
static int xFullPathname(sqlite3_vfs *s, const char *n, int size, char *out) {
  (void)s;
  return base->xFullPathname(base, n, size, out);
}
static void *xDlOpen(sqlite3_vfs *s, const char *n) { (void)s; return base->xDlOpen(base, n); }
static void xDlError(sqlite3_vfs *s, int n, char *m) { (void)s; base->xDlError(base, n, m); }
static void (*xDlSym(sqlite3_vfs *s, void *h, const char *sym))(void) { (void)s; return base->xDlSym(base, h, sym); }
static void xDlClose(sqlite3_vfs *s, void *h) { (void)s; base->xDlClose(base, h); }
static int xRandomness(sqlite3_vfs *s, int n, char *out) { (void)s; return base->xRandomness(base, n, out); }
static int xSleep(sqlite3_vfs *s, int us) { (void)s; return base->xSleep(base, us); }
static int xCurrentTime(sqlite3_vfs *s, double *t) { (void)s; return base->xCurrentTime(base, t); }
static int xGetLastError(sqlite3_vfs *s, int n, char *b) { (void)s; return base->xGetLastError(base, n, b); }
static int xCurrentTimeInt64(sqlite3_vfs *s, sqlite3_int64 *t) {
  (void)s;
  return base->xCurrentTimeInt64(base, t);
}

static PyObject *set_default(PyObject *module, PyObject *args) {
  (void)module;
  int make_default = 0;
  if (!PyArg_ParseTuple(args, "p", &make_default)) return NULL;
  if (base == NULL) {
    sqlite3_vfs *found = sqlite3_vfs_find(NULL);
    if (found == NULL || found->iVersion < 2) {
      PyErr_SetString(PyExc_OSError, "SQLite has no default VFS of version 2 or later to wrap");
      return NULL;
    }
    base = found;
    for (int i = 0; i < 3; i++) {
      methods[i] = (sqlite3_io_methods){i + 1, xClose, xRead, xWrite, xTruncate, xSync, xFileSize, xLock,
                                        xUnlock, xCheckReservedLock, xFileControl, xSectorSize,
                                        xDeviceCharacteristics, xShmMap, xShmLock, xShmBarrier, xShmUnmap,
                                        xFetch, xUnfetch};
    }
    vfs = (sqlite3_vfs){2, (int)sizeof(File) + base->szOsFile, base->mxPathname, NULL, VFS_NAME, NULL,
                        xOpen, xDelete, xAccess, xFullPathname, xDlOpen, xDlError, xDlSym, xDlClose,
                        xRandomness, xSleep, xCurrentTime, xGetLastError, xCurrentTimeInt64};
  }
  /* Registered either way (so a URI can name it); the default is this VFS or the one it wraps. Connections
   * already open keep the VFS they were opened with. */
  int rc = sqlite3_vfs_register(&vfs, make_default);
  if (rc == SQLITE_OK && !make_default) rc = sqlite3_vfs_register(base, 1);
  if (rc != SQLITE_OK) {
    PyErr_Format(PyExc_OSError, "sqlite3_vfs_register failed (%d)", rc);
    return NULL;
  }
  return PyUnicode_FromString(VFS_NAME);
}

static PyObject *library_version(PyObject *module, PyObject *unused) {
  (void)module;
  (void)unused;
  return PyUnicode_FromString(sqlite3_libversion());
}

static PyObject *counters(PyObject *module, PyObject *unused) {
  (void)module;
  (void)unused;
  return Py_BuildValue("(KK)", __atomic_load_n(&asked, __ATOMIC_RELAXED), __atomic_load_n(&made, __ATOMIC_RELAXED));
}

static PyObject *read_seconds(PyObject *module, PyObject *unused) {
  (void)module;
  (void)unused;
  return PyFloat_FromDouble((double)read_ns / 1e9);
}

static PyMethodDef module_methods[] = {
    {"read_seconds", read_seconds, METH_NOARGS,
     "read_seconds() -> float: seconds the calling thread has spent reading files opened through the shim."},
    {"counters", counters, METH_NOARGS,
     "counters() -> (asked, made): WAL writes SQLite asked for and writes made to WAL files, since import."},
    {"set_default", set_default, METH_VARARGS,
     "set_default(flag) -> name: register the WAL-buffering VFS; SQLite's default VFS if flag, else the one it "
     "wraps."},
    {"library_version", library_version, METH_NOARGS, "The version of the SQLite library this module calls."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_walbuffer", "A SQLite VFS that writes a commit's WAL frames in one call.", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__walbuffer(void) { return PyModule_Create(&module_def); }
