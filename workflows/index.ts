export * from './identity';
export * from './reconcile';
