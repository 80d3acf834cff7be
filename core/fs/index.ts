// The deterministic file system state machine of one volume. See spec/fs.md and README.md.
export * from './types.ts'
export type { BlockChange } from './blocks.ts'
export { BlockTree, INDEX_LIMIT, TREE_FANOUT } from './blocks.ts'
export type {
  FsOp, OpKind, CreateOp, MkdirOp, MknodOp, SymlinkOp, LinkOp, WriteOp, TruncateOp, UnlinkOp, RmdirOp,
  RenameOp, ChmodOp, ChownOp, UtimensOp, UtimeSpec, SetxattrOp, RemovexattrOp,
} from './ops.ts'
export { validateOp, opKind, opPaths, opToValue, OP_KINDS, ID_MAX } from './ops.ts'
export { compareNames, parsePath, checkName, utf8Length, joinPath, FS_PATH_MAX_BYTES } from './paths.ts'
export type { FsState, RootOptions } from './state.ts'
export { createFs, applyOp, DEFAULT_ROOT_MODE } from './state.ts'
export type { Owned } from './perm.ts'
export {
  MAY_EXEC, MAY_WRITE, MAY_READ, isRoot, inGroup, permits, ownerOrRoot, checkPermInvariants,
} from './perm.ts'
export type { DirEntry } from './view.ts'
export {
  FsView, currentView, snapshotAt, lookup, getattr, readdir, readlink, listxattr, getxattr, readFile, readInode,
} from './view.ts'
export type { ProofStep, PathProof } from './merkle.ts'
export {
  stateRoot, stateRootAt, stateRootUncached, inodeHash, viewInodeHash, hashInodeVersion, nodeHead, provePath,
  verifyPathProof, TAG_FILE, TAG_DIR, TAG_SYMLINK, TAG_SPECIAL,
} from './merkle.ts'
export type { WriteStep, WritePlan } from './content.ts'
export { planWrite, chunkHash } from './content.ts'
export type { HistoryEntry } from './history.ts'
export { history, TAG_CONTENT } from './history.ts'
export type { Finding } from './diff.ts'
export { diffTrees, diffHistory, SummaryPast } from './diff.ts'
export { exportTree, importTree, TREE_FORMAT } from './tree.ts'
export type { CheckOptions } from './check.ts'
export { checkFsInvariants } from './check.ts'
