"""The shipped default parameters are the fit on PVDAQ system 50, 2012."""

import numpy as np

from pvshare.forecast import defaults
from pvshare.forecast.reference import fit_reference


def test_defaults_match_the_reference_fit():
    for w, alpha, q in ((False, defaults.ALPHA_CLIMATOLOGY, defaults.QUANTILES_CLIMATOLOGY),
                        (True, defaults.ALPHA_WEATHER, defaults.QUANTILES_WEATHER)):
        fc = fit_reference(w)
        np.testing.assert_allclose(fc.alpha, alpha, atol=6e-4)
        np.testing.assert_allclose(fc.quantiles, q, atol=6e-4)
        np.testing.assert_allclose(fc.ages_h, np.arange(1, len(alpha) + 1) * defaults.AGE_STEP_H)
        # blending falls from trusting the measurement towards the prior
        assert alpha[0] > 0.6 and np.mean(alpha[48:96]) < 0.2
