import { readPerson } from '../../domain/person';

describe('a person as a history holds them', () => {
  test("today's shape is read as it is", () => {
    const person = { id: 'S1', employeeId: 'E1', login: 'ada@contoso.example', enabled: false, attributes: { userPrincipalName: 'ada@contoso.example', department: 'R&D' }, groups: [] };
    expect(readPerson(person)).toEqual(person);
  });

  test("the shape recorded before the fields were source-neutral: Entra ID's names become login and enabled, and stay readable as attributes", () => {
    const recorded = { id: 'S1', employeeId: 'E1', userPrincipalName: 'ada@contoso.example', accountEnabled: true, attributes: { department: 'R&D' }, groups: [{ id: 'G1', displayName: 'Engineering' }] };
    expect(readPerson(recorded)).toEqual({
      id: 'S1',
      employeeId: 'E1',
      login: 'ada@contoso.example',
      enabled: true,
      attributes: { department: 'R&D', userPrincipalName: 'ada@contoso.example', accountEnabled: true },
      groups: [{ id: 'G1', displayName: 'Engineering' }],
    });
  });

  test('a recorded disabled person stays disabled', () => {
    expect(readPerson({ id: 'S1', employeeId: 'E1', userPrincipalName: 'x@y', accountEnabled: false, attributes: {}, groups: [] }).enabled).toBe(false);
  });
});
