"""Engine: CrossHair checks the contracts of impl/contracts.py.

Each postcondition of each entry point is one *condition*; CrossHair
explores the inputs its preconditions allow, path by path, with a budget
of CPU seconds (``time.process_time``, so the answer does not depend on
how loaded the machine is).  A condition is

- ``verified`` when CrossHair exhausted every path and each one held
  (within the bounds the preconditions set, e.g. MAX_CHAIN);
- ``no counterexample within budget`` when the budget ran out first;
- ``counterexample`` when an input breaks it: printed with the call, the
  implementation's answer and the trace that ``rmap-verify replay`` replays.

On a variant that is the seed with some fixes missing (``seed``,
``seed+F2``, ``fixed-F3``: ``proofs.attribution.missing_fixes``) every
counterexample is attributed to findings by their fixes (impl/fixes.py,
one class per finding): the smallest sets of the missing fixes that, added
to the variant, make the condition hold on that input.  The check then
goes on with those fixes added, so one condition shows every finding it
can see, and ends on ``verified`` once the variant carries them all.  Such
a run also checks, function by function, whether the variant behaves as
fixed on every input the contract allows (diffbehavior, as a condition:
see ``same_as_fixed``); each difference is attributed the same way, and
the check ends verified with every missing fix grafted, so fixed differs
from the variant only by its fixes.  On any other variant (``fixed``,
``2.5.32``, a patch under test) a counterexample is a plain failure.

Exit 0: no counterexample and no unexplained difference; 1: otherwise.

- ``fixes``: the fixes of impl/fixes.py as findings, and the search
  for the smallest set of fixes that explains a counterexample;
- ``check``: one condition explored by CrossHair (and diffbehavior);
- ``command``: ``rmap-verify contracts``, its selection and its reports.
"""
