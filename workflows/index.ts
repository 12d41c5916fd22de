export * from './identity';
export * from './reconcile';
export * from './delta-sync';
export * from './managed-group';
export * from './revocation-guard';
